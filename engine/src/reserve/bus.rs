//! The org.freedesktop.ReserveDevice1 protocol on the session bus, over
//! zbus's blocking API.
//!
//! Taking card N: serve the object `/org/freedesktop/ReserveDevice1/AudioN`
//! (interface `org.freedesktop.ReserveDevice1`: `RequestRelease(i) -> b`
//! and the `Priority`, `ApplicationName`, `ApplicationDeviceName`
//! properties), then ask the bus for `org.freedesktop.ReserveDevice1.AudioN`
//! with `DO_NOT_QUEUE` and, unless our priority is `i32::MAX`,
//! `ALLOW_REPLACEMENT`. If the name is taken, call the owner's
//! `RequestRelease(our priority)`; it closes the card and answers true, or
//! answers false. On true, ask for the name again adding
//! `REPLACE_EXISTING`. Giving the card back is releasing the name after
//! closing the card: the sound server watches the name and takes the card
//! back when it is free.

use super::config::{object_path, service_name, BusAddress, OnRequest, ReleaseRequest};
use super::config::{RequestHook, ReserveConfig, INTERFACE};
use super::error::{BusHolder, ReserveError};
use super::watch::ReservationWatch;
use std::path::PathBuf;
use zbus::blocking::connection::Builder;
use zbus::blocking::fdo::{DBusProxy, PropertiesProxy};
use zbus::blocking::{Connection, Proxy};
use zbus::fdo::{RequestNameFlags, RequestNameReply};
use zbus::names::{BusName, InterfaceName};

/// The served object: answers other programs' requests for the card.
struct ReserveObject {
    priority: i32,
    application_name: String,
    device_name: String,
    on_request: OnRequest,
    hook: Option<RequestHook>,
    watch: ReservationWatch,
}

#[zbus::interface(name = "org.freedesktop.ReserveDevice1")]
impl ReserveObject {
    /// Another program asks for the card with `priority`. Runs on this
    /// connection's own executor thread, so waiting here holds up nothing
    /// but this reservation.
    fn request_release(&self, priority: i32) -> bool {
        let granted = match self.on_request {
            OnRequest::Refuse => false,
            OnRequest::Release { .. } if priority <= self.priority => false,
            OnRequest::Release { timeout } => {
                self.watch.request_release(priority);
                if let Some(hook) = &self.hook {
                    hook(&ReleaseRequest {
                        priority,
                        granted: true,
                    });
                }
                // "Close the device, then return TRUE (in this order!)".
                return self.watch.wait_closed(timeout);
            }
        };
        if let Some(hook) = &self.hook {
            hook(&ReleaseRequest { priority, granted });
        }
        granted
    }

    /// Our priority.
    #[zbus(property)]
    fn priority(&self) -> i32 {
        self.priority
    }

    /// Our application's name.
    #[zbus(property)]
    fn application_name(&self) -> String {
        self.application_name.clone()
    }

    /// The device's name as our application shows it.
    #[zbus(property)]
    fn application_device_name(&self) -> String {
        self.device_name.clone()
    }
}

/// A held reservation: the name is ours until this is dropped.
pub(crate) struct Claim {
    conn: Connection,
    name: String,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("name", &self.name).finish()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Nothing to do if it fails: the bus frees the name anyway when
        // this connection closes, right after.
        let _ = self.conn.release_name(self.name.as_str());
    }
}

/// The result of trying to take a card's name.
pub(crate) enum Taken {
    /// The name is ours (and who had it before, if someone did).
    Held(Claim, Option<BusHolder>),
    /// There is no session bus to ask on (the reason, for the user).
    NoBus(String),
}

fn bus_err(card: u32, what: &str) -> impl Fn(zbus::Error) -> ReserveError + '_ {
    move |e| ReserveError::Bus {
        card,
        what: format!("{what}: {e}"),
    }
}

/// Takes card `card`'s reservation, asking its holder to release it.
pub(crate) fn take(
    card: u32,
    device_name: &str,
    config: &ReserveConfig,
    watch: &ReservationWatch,
) -> Result<Taken, ReserveError> {
    let builder = match &config.bus {
        BusAddress::Session => {
            if let Some(reason) = no_session_bus() {
                return Ok(Taken::NoBus(reason));
            }
            Builder::session()
        }
        BusAddress::Address(a) => Builder::address(a.as_str()),
    };
    let object = ReserveObject {
        priority: config.priority,
        application_name: config.application_name.clone(),
        device_name: config
            .device_name
            .clone()
            .unwrap_or_else(|| device_name.to_owned()),
        on_request: config.on_request,
        hook: config.hook.clone(),
        watch: watch.clone(),
    };
    let conn = match builder
        .map(|b| b.method_timeout(config.call_timeout))
        .and_then(|b| b.serve_at(object_path(card), object))
        .and_then(Builder::build)
    {
        Ok(c) => c,
        Err(e) => {
            return Ok(Taken::NoBus(format!(
                "cannot connect to the session bus ({e})"
            )))
        }
    };
    let name = service_name(card);
    let mut flags = RequestNameFlags::DoNotQueue.into();
    if config.priority < i32::MAX {
        flags |= RequestNameFlags::AllowReplacement;
    }
    // zbus reports a taken name (DBUS_REQUEST_NAME_REPLY_EXISTS) as an error.
    match conn.request_name_with_flags(name.as_str(), flags) {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {
            return Ok(Taken::Held(Claim { conn, name }, None));
        }
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) | Err(zbus::Error::NameTaken) => {}
        Err(e) => return Err(bus_err(card, "RequestName")(e)),
    }

    // Someone holds it: ask them.
    let holder = describe_holder(&conn, card);
    let proxy = Proxy::new(&conn, name.as_str(), object_path(card), INTERFACE)
        .map_err(bus_err(card, "proxy for the holder"))?;
    let answer: Result<bool, zbus::Error> = proxy.call("RequestRelease", &(config.priority,));
    let refused = |detail| ReserveError::Refused {
        card,
        holder: Box::new(holder.clone()),
        priority: config.priority,
        detail,
    };
    match answer {
        Ok(true) => {}
        Ok(false) => return Err(refused(None)),
        Err(e) => {
            return Err(refused(Some(format!(
                "it did not answer RequestRelease: {e}"
            ))))
        }
    }
    drop(proxy);
    match conn.request_name_with_flags(name.as_str(), flags | RequestNameFlags::ReplaceExisting) {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {
            Ok(Taken::Held(Claim { conn, name }, Some(holder)))
        }
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) | Err(zbus::Error::NameTaken) => {
            Err(refused(Some(
                "it agreed, but did not allow its name to be replaced".to_owned(),
            )))
        }
        Err(e) => Err(bus_err(card, "RequestName after the holder agreed")(e)),
    }
}

/// Why there is no session bus to ask, if there is none: no
/// `DBUS_SESSION_BUS_ADDRESS` and no `$XDG_RUNTIME_DIR/bus` socket.
fn no_session_bus() -> Option<String> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
        return None;
    }
    let socket = std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("bus"));
    match socket {
        Some(s) if s.exists() => None,
        _ => Some(
            "no session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is no \
             $XDG_RUNTIME_DIR/bus)"
                .to_owned(),
        ),
    }
}

/// What the bus tells about the current holder of card `card`'s name.
/// Every piece is optional: the protocol makes the properties optional
/// and a bus may refuse the PID.
fn describe_holder(conn: &Connection, card: u32) -> BusHolder {
    let name = service_name(card);
    let mut holder = BusHolder::default();
    let Ok(bus_name) = BusName::try_from(name.as_str()) else {
        return holder;
    };
    if let Ok(dbus) = DBusProxy::new(conn) {
        if let Ok(owner) = dbus.get_name_owner(bus_name.clone()) {
            holder.bus_name = owner.to_string();
        }
        if let Ok(pid) = dbus.get_connection_unix_process_id(bus_name.clone()) {
            holder.pid = Some(pid);
            holder.command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|s| s.trim_end().to_owned());
        }
    }
    let props = PropertiesProxy::builder(conn)
        .destination(bus_name)
        .and_then(|b| b.path(object_path(card)))
        .and_then(|b| b.build());
    if let (Ok(props), Ok(iface)) = (props, InterfaceName::try_from(INTERFACE)) {
        let get = |prop: &str| props.get(iface.clone(), prop).ok();
        holder.application_name = get("ApplicationName").and_then(|v| String::try_from(v).ok());
        holder.device_name = get("ApplicationDeviceName").and_then(|v| String::try_from(v).ok());
        holder.priority = get("Priority").and_then(|v| i32::try_from(v).ok());
    }
    holder
}

//! What a reservation asks for: the priority, the names shown to other
//! programs, the bus, and what to do when someone else asks for the card.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// [`ReserveConfig::DEFAULT_PRIORITY`], for this module.
pub(crate) const DEFAULT_PRIORITY: i32 = ReserveConfig::DEFAULT_PRIORITY;

/// Which D-Bus to speak the protocol on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BusAddress {
    /// The user's session bus: `DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`.
    #[default]
    Session,
    /// This D-Bus address (e.g. `unix:path=/tmp/bus`), for tests and for
    /// programs that run on a bus of their own.
    Address(String),
}

/// What to do when another program asks for the card while pcmring
/// holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRequest {
    /// Keep the card: answer every request "no".
    #[default]
    Refuse,
    /// Give the card to a requester whose priority is higher than ours.
    /// The protocol wants the card closed before the answer, so the
    /// answer waits (at most `timeout`) until the application has stopped
    /// the engine and the device is closed (see
    /// [`crate::reserve::ReservationWatch`]); if that does not happen in
    /// time, the answer is "no".
    Release {
        /// How long the requester waits for the card at most.
        timeout: Duration,
    },
}

impl OnRequest {
    /// [`OnRequest::Release`] with a 3-second limit.
    pub fn release() -> OnRequest {
        OnRequest::Release {
            timeout: Duration::from_secs(3),
        }
    }
}

/// A request from another program for the card pcmring holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The requester's priority.
    pub priority: i32,
    /// Whether pcmring is giving the card up (the application must now
    /// stop the engine), or keeping it.
    pub granted: bool,
}

/// [`ReserveConfig::hook`]'s type, for the crate's own code.
pub(crate) type RequestHook = Arc<dyn Fn(&ReleaseRequest) + Send + Sync>;

/// How to reserve a card.
#[derive(Clone)]
pub struct ReserveConfig {
    /// Whether to reserve at all (`false`: open the card without asking
    /// anyone, as `--no-reserve` does).
    pub enabled: bool,
    /// Our priority; requests from lower or equal priorities are refused,
    /// and a holder gives the card to us only if we are higher than it.
    pub priority: i32,
    /// Shown to other programs as `ApplicationName`.
    pub application_name: String,
    /// Shown as `ApplicationDeviceName` (default: the PCM name).
    pub device_name: Option<String>,
    /// What to do when another program asks for the card.
    pub on_request: OnRequest,
    /// Told about each request: called on the reservation's D-Bus thread;
    /// wire it to the application's event channel. Keep it short: the
    /// requester waits.
    // Spelled out so the docs show what to pass (no alias to look up).
    #[allow(clippy::type_complexity)]
    pub hook: Option<Arc<dyn Fn(&ReleaseRequest) + Send + Sync>>,
    /// The bus.
    pub bus: BusAddress,
    /// The longest wait for the holder's answer.
    pub call_timeout: Duration,
}

impl ReserveConfig {
    /// pcmring's default priority. The protocol's rule is that a holder
    /// gives the card up to a requester with a higher priority. PipeWire
    /// (WirePlumber) holds cards at -20 and PulseAudio at 0, so they give
    /// the card to pcmring; JACK holds at `i32::MAX` and never does.
    pub const DEFAULT_PRIORITY: i32 = 10;

    /// Enabled, [`ReserveConfig::DEFAULT_PRIORITY`], refuse requests,
    /// session bus.
    pub fn new(application_name: &str) -> ReserveConfig {
        ReserveConfig {
            enabled: true,
            priority: DEFAULT_PRIORITY,
            application_name: application_name.to_owned(),
            device_name: None,
            on_request: OnRequest::Refuse,
            hook: None,
            bus: BusAddress::Session,
            call_timeout: Duration::from_secs(5),
        }
    }

    /// No reservation: the card is opened without asking anyone.
    pub fn disabled() -> ReserveConfig {
        ReserveConfig {
            enabled: false,
            ..ReserveConfig::new("pcmring")
        }
    }

    /// Sets the hook told about requests.
    pub fn with_hook(mut self, hook: impl Fn(&ReleaseRequest) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

impl Default for ReserveConfig {
    fn default() -> Self {
        ReserveConfig::new("pcmring")
    }
}

impl fmt::Debug for ReserveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveConfig")
            .field("enabled", &self.enabled)
            .field("priority", &self.priority)
            .field("application_name", &self.application_name)
            .field("device_name", &self.device_name)
            .field("on_request", &self.on_request)
            .field("hook", &self.hook.as_ref().map(|_| "Fn"))
            .field("bus", &self.bus)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

/// The reservation's D-Bus name for card `card`.
#[cfg_attr(not(any(feature = "reserve", feature = "testing")), allow(dead_code))]
pub fn service_name(card: u32) -> String {
    format!("org.freedesktop.ReserveDevice1.Audio{card}")
}

/// The object path the holder of card `card` serves.
#[cfg_attr(not(any(feature = "reserve", feature = "testing")), allow(dead_code))]
pub fn object_path(card: u32) -> String {
    format!("/org/freedesktop/ReserveDevice1/Audio{card}")
}

/// The interface on that object.
#[cfg_attr(not(any(feature = "reserve", feature = "testing")), allow(dead_code))]
pub const INTERFACE: &str = "org.freedesktop.ReserveDevice1";

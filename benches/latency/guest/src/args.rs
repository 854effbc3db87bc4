//! A minimal `--key value` command-line parser (no dependency).

use std::collections::HashMap;

/// Parsed `--key value` options.
#[derive(Debug, Default)]
pub struct Args(HashMap<String, String>);

impl Args {
    /// Parses `--key value` pairs; a trailing or doubled `--key` is an error.
    pub fn parse(items: &[String]) -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut it = items.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --option, got {k:?}"))?;
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), v.clone());
        }
        Ok(Args(map))
    }

    /// A string option.
    pub fn str(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    /// An unsigned option.
    pub fn u64(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v:?}")),
        }
    }
}

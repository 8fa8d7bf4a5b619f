//! Retention: how long each database keeps its points. `--retention`
//! sets the default (none: forever); `hydrant db retention <db> <duration>`
//! overrides it per database in `<data-dir>/retention.json`, which a running
//! server re-reads within a second.
//!
//! Writes older than the window are refused per line (InfluxDB's "points
//! beyond retention policy"); a background task drops in-memory batches and
//! Parquet files that lie wholly before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

pub const RETENTION_FILE: &str = "retention.json";

/// A retention setting as written: a duration, or "inf" (forever).
fn parse(spec: &str) -> Result<Option<Duration>, String> {
    match spec.trim() {
        "inf" | "INF" | "none" | "0" | "0s" => Ok(None),
        other => crate::config::parse_duration(other).map(Some),
    }
}

fn show(d: Option<Duration>) -> String {
    match d {
        None => "inf".into(),
        Some(d) if d.as_secs() % 86_400 == 0 => format!("{}d", d.as_secs() / 86_400),
        Some(d) if d.as_secs() % 3_600 == 0 => format!("{}h", d.as_secs() / 3_600),
        Some(d) if d.subsec_millis() == 0 => format!("{}s", d.as_secs()),
        Some(d) => format!("{}ms", d.as_millis()),
    }
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub struct Retention {
    default: Option<Duration>,
    file: PathBuf,
    overrides: ArcSwap<BTreeMap<String, Option<Duration>>>,
    seen: Mutex<Option<SystemTime>>,
}

impl Retention {
    pub fn open(data_dir: &Path, default: Option<Duration>) -> Result<Arc<Retention>, String> {
        let r = Retention {
            default,
            file: data_dir.join(RETENTION_FILE),
            overrides: ArcSwap::from_pointee(BTreeMap::new()),
            seen: Mutex::new(None),
        };
        r.reload()?;
        Ok(Arc::new(r))
    }

    /// Forever for every database (tests and tools).
    pub fn none() -> Retention {
        Retention {
            default: None,
            file: PathBuf::new(),
            overrides: ArcSwap::from_pointee(BTreeMap::new()),
            seen: Mutex::new(None),
        }
    }

    /// Re-reads the file if it changed.
    pub fn reload(&self) -> Result<(), String> {
        let modified = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .ok();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if modified.is_some() && *seen == modified {
            return Ok(());
        }
        let mut parsed = BTreeMap::new();
        for (db, spec) in read_file(&self.file)? {
            let d = parse(&spec).map_err(|e| format!("{}: {db}: {e}", self.file.display()))?;
            parsed.insert(db, d);
        }
        self.overrides.store(Arc::new(parsed));
        *seen = modified;
        Ok(())
    }

    /// How long `db` keeps points (None: forever).
    pub fn of(&self, db: &str) -> Option<Duration> {
        match self.overrides.load().get(db) {
            Some(d) => *d,
            None => self.default,
        }
    }

    /// The oldest timestamp `db` keeps at `now_ns` (i64::MIN: everything).
    pub fn cutoff(&self, db: &str, now_ns: i64) -> i64 {
        match self.of(db) {
            Some(d) => now_ns.saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            None => i64::MIN,
        }
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `hydrant db retention <db> [<duration>|inf|default]`: shows or sets a
/// database's retention in `data_dir` (a running server picks it up).
pub fn command(data_dir: &Path, db: &str, value: Option<&str>) -> Result<String, String> {
    let file = data_dir.join(RETENTION_FILE);
    let mut all = read_file(&file)?;
    // Without a value this only shows the setting.
    if let Some(value) = value {
        if value == "default" {
            all.remove(db);
        } else {
            all.insert(db.to_string(), show(parse(value)?));
        }
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
        crate::files::replace(&file, &bytes, 0o644)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(match all.get(db) {
        Some(v) => format!("{db}: {v}"),
        None => format!("{db}: default (--retention)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_database_settings_override_the_default() {
        let dir = std::env::temp_dir().join(format!("hydrant-retention-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = Retention::open(&dir, Some(Duration::from_secs(3600))).unwrap();
        assert_eq!(r.of("a"), Some(Duration::from_secs(3600)));
        assert_eq!(command(&dir, "a", Some("7d")).unwrap(), "a: 7d");
        assert_eq!(command(&dir, "b", Some("inf")).unwrap(), "b: inf");
        assert!(command(&dir, "c", Some("soon")).is_err());
        r.reload().unwrap();
        assert_eq!(r.of("a"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.of("b"), None);
        assert_eq!(r.cutoff("b", 100), i64::MIN);
        assert_eq!(r.cutoff("c", 3_600_000_000_001), 1);
        assert_eq!(
            command(&dir, "a", Some("default")).unwrap(),
            "a: default (--retention)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The data one request's statements read: a catalog snapshot and, per
//! table, every core's batches, fetched before the (synchronous) run.

use std::sync::Arc;

use arrow_array::RecordBatch;
use hashbrown::HashMap;

use crate::catalog::Snapshot;

/// Per tag key, its values (sorted).
pub type TagValues = Arc<crate::shard::TagIndex>;

/// What one request may spend: time and points held in memory.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub deadline: Option<std::time::Instant>,
    pub timeout: std::time::Duration,
    pub max_points: usize,
}

impl Budget {
    pub fn unlimited() -> Budget {
        Budget {
            deadline: None,
            timeout: std::time::Duration::MAX,
            max_points: usize::MAX,
        }
    }

    pub fn new(timeout: std::time::Duration, max_points: usize) -> Budget {
        Budget {
            deadline: std::time::Instant::now().checked_add(timeout),
            timeout,
            max_points,
        }
    }

    /// An error once the deadline has passed.
    pub fn check_time(&self) -> Result<(), String> {
        match self.deadline {
            Some(d) if std::time::Instant::now() > d => Err(format!(
                "query-timeout limit exceeded: the query ran longer than {:?} (--query-timeout)",
                self.timeout
            )),
            _ => Ok(()),
        }
    }

    pub fn check_points(&self, points: usize) -> Result<(), String> {
        if points > self.max_points {
            return Err(format!(
                "max-select-point limit exceeded: the query reads more than {} points (--query-max-points); narrow the time range or the series",
                self.max_points
            ));
        }
        Ok(())
    }
}

pub struct Store {
    pub catalog: Arc<Snapshot>,
    pub budget: Budget,
    batches: HashMap<(String, String), Vec<RecordBatch>>,
    tag_values: HashMap<(String, String), TagValues>,
    /// Retention per database SHOW RETENTION POLICIES reports (None: forever).
    pub retention: HashMap<String, Option<std::time::Duration>>,
}

impl Store {
    pub fn new(catalog: Arc<Snapshot>) -> Store {
        Store {
            catalog,
            budget: Budget::unlimited(),
            batches: HashMap::new(),
            tag_values: HashMap::new(),
            retention: HashMap::new(),
        }
    }

    pub fn insert(&mut self, db: &str, table: &str, batches: Vec<RecordBatch>) {
        self.batches
            .insert((db.to_string(), table.to_string()), batches);
    }

    pub fn insert_tag_values(&mut self, db: &str, table: &str, values: TagValues) {
        self.tag_values
            .insert((db.to_string(), table.to_string()), values);
    }

    pub fn tag_values(&self, db: &str, table: &str) -> Option<&TagValues> {
        self.tag_values.get(&(db.to_string(), table.to_string()))
    }

    /// Rows in every fetched batch (how much a run may touch).
    pub fn rows(&self) -> usize {
        self.batches.values().flatten().map(|b| b.num_rows()).sum()
    }

    pub fn batches(&self, db: &str, table: &str) -> Option<&[RecordBatch]> {
        self.batches
            .get(&(db.to_string(), table.to_string()))
            .map(Vec::as_slice)
    }

    /// Table names of `db`, sorted.
    pub fn table_names(&self, db: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .catalog
            .database(db)
            .map(|d| d.tables.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

//! The shared catalog: databases, tables and their columns.
//!
//! Every core reads it on every write, so reads are lock-free: the catalog is
//! an immutable snapshot behind an `ArcSwap`, and a reader holds one snapshot
//! for a whole request. Changes (a new database, table or column) take a mutex,
//! re-check against the latest snapshot, and publish a new one; so when two
//! cores race to create the same column with different types, the second to
//! take the lock sees the first's column and loses. Column ids are stable for
//! the life of a table, which lets shards index their builders by id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hashbrown::HashMap;

/// The type of a field column; fixed by the first value written to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // InfluxDB's spelling, which its error messages use.
        f.write_str(match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    Tag,
    Field(FieldType),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Position in the table's column list; stable for the table's life.
    pub id: u32,
    pub kind: ColumnKind,
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub name: Arc<str>,
    pub columns: HashMap<Arc<str>, Column>,
    /// Column names by id.
    pub names: Vec<Arc<str>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<Column> {
        self.columns.get(name).copied()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Database {
    pub name: Arc<str>,
    pub tables: HashMap<Arc<str>, Arc<Table>>,
}

/// One consistent view of every database.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub databases: HashMap<Arc<str>, Arc<Database>>,
}

impl Snapshot {
    pub fn database(&self, name: &str) -> Option<&Arc<Database>> {
        self.databases.get(name)
    }

    pub fn table(&self, db: &str, table: &str) -> Option<&Arc<Table>> {
        self.databases.get(db)?.tables.get(table)
    }

    /// Database names in order, for listings.
    pub fn database_names(&self) -> Vec<Arc<str>> {
        let sorted: BTreeMap<_, _> = self.databases.keys().map(|k| (k.clone(), ())).collect();
        sorted.into_keys().collect()
    }
}

/// A column a write wants that the catalog does not have yet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnRequest {
    pub name: String,
    pub kind: ColumnKind,
}

/// Why a requested column could not be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaConflict {
    /// A field exists with another type.
    FieldType {
        existing: FieldType,
        wanted: FieldType,
    },
    /// The name is a tag and was written as a field, or the other way round.
    TagFieldClash { existing: ColumnKind },
}

pub struct Catalog {
    current: ArcSwap<Snapshot>,
    change: Mutex<()>,
    /// Where every change is saved (none in unit tests).
    file: Option<std::path::PathBuf>,
}

/// InfluxDB 3's limit on database names.
pub const MAX_DATABASE_NAME: usize = 64;

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            current: ArcSwap::from_pointee(Snapshot::default()),
            change: Mutex::new(()),
            file: None,
        }
    }
}

/// The saved form: databases, tables and columns in id order.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    databases: Vec<SavedDatabase>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedDatabase {
    name: String,
    tables: Vec<SavedTable>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedTable {
    name: String,
    /// (name, "tag" or a field type)
    columns: Vec<(String, String)>,
}

fn kind_name(kind: ColumnKind) -> String {
    match kind {
        ColumnKind::Tag => "tag".into(),
        ColumnKind::Field(t) => t.to_string(),
    }
}

fn kind_from_name(name: &str) -> Option<ColumnKind> {
    Some(match name {
        "tag" => ColumnKind::Tag,
        "float" => ColumnKind::Field(FieldType::Float),
        "integer" => ColumnKind::Field(FieldType::Integer),
        "unsigned" => ColumnKind::Field(FieldType::Unsigned),
        "string" => ColumnKind::Field(FieldType::String),
        "boolean" => ColumnKind::Field(FieldType::Boolean),
        _ => return None,
    })
}

impl Catalog {
    /// The catalog saved in `file` (empty if there is none yet); every
    /// change is saved back there.
    pub fn open(file: std::path::PathBuf) -> Result<Catalog, String> {
        let mut snapshot = Snapshot::default();
        match std::fs::read(&file) {
            Ok(bytes) => {
                let saved: Saved = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("cannot read the catalog {}: {e}", file.display()))?;
                for d in saved.databases {
                    let mut db = Database {
                        name: Arc::from(d.name.as_str()),
                        tables: HashMap::new(),
                    };
                    for t in d.tables {
                        let mut table = Table {
                            name: Arc::from(t.name.as_str()),
                            ..Table::default()
                        };
                        for (name, kind) in t.columns {
                            let kind = kind_from_name(&kind).ok_or_else(|| {
                                format!(
                                    "cannot read the catalog {}: unknown column kind {kind:?}",
                                    file.display()
                                )
                            })?;
                            let name: Arc<str> = Arc::from(name.as_str());
                            let id = table.names.len() as u32;
                            table.names.push(name.clone());
                            table.columns.insert(name, Column { id, kind });
                        }
                        db.tables.insert(table.name.clone(), Arc::new(table));
                    }
                    snapshot.databases.insert(db.name.clone(), Arc::new(db));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read the catalog {}: {e}", file.display())),
        }
        Ok(Catalog {
            current: ArcSwap::from_pointee(snapshot),
            change: Mutex::new(()),
            file: Some(file),
        })
    }

    /// Saves `snapshot` (called with the change lock held, so saves are in
    /// order). The WAL carries every column too, so a save lost in a crash
    /// is rebuilt on replay; a failed save is logged, not fatal.
    fn save(&self, snapshot: &Snapshot) {
        let Some(file) = &self.file else { return };
        let mut databases: Vec<SavedDatabase> = snapshot
            .databases
            .values()
            .map(|d| {
                let mut tables: Vec<SavedTable> = d
                    .tables
                    .values()
                    .map(|t| SavedTable {
                        name: t.name.to_string(),
                        columns: t
                            .names
                            .iter()
                            .map(|n| (n.to_string(), kind_name(t.columns[n].kind)))
                            .collect(),
                    })
                    .collect();
                tables.sort_by(|a, b| a.name.cmp(&b.name));
                SavedDatabase {
                    name: d.name.to_string(),
                    tables,
                }
            })
            .collect();
        databases.sort_by(|a, b| a.name.cmp(&b.name));
        let bytes = serde_json::to_vec_pretty(&Saved { databases }).unwrap_or_default();
        if let Err(e) = crate::files::replace(file, &bytes, 0o644) {
            log::error!("cannot save the catalog {}: {e}", file.display());
        }
    }

    /// The current snapshot; cheap, lock-free, and consistent for as long as it is held.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Creates `db` if missing (no-op otherwise).
    pub fn ensure_database(&self, db: &str) -> Arc<Snapshot> {
        if self.current.load().database(db).is_some() {
            return self.current.load_full();
        }
        let _guard = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Snapshot::clone(&self.current.load());
        next.databases.entry(Arc::from(db)).or_insert_with(|| {
            Arc::new(Database {
                name: Arc::from(db),
                tables: HashMap::new(),
            })
        });
        let next = Arc::new(next);
        self.save(&next);
        self.current.store(next.clone());
        next
    }

    /// Adds the requested columns to `db`.`table` (creating both if needed).
    /// Returns, per request in order, the column or the conflict that stops it,
    /// judged against whatever other cores created first.
    pub fn add_columns(
        &self,
        db: &str,
        table: &str,
        wanted: &[ColumnRequest],
    ) -> Vec<Result<Column, SchemaConflict>> {
        self.add_columns_to_tables(db, &[(table, wanted)])
            .pop()
            .unwrap_or_default()
    }

    /// [`Catalog::add_columns`] for several tables of `db` at once, saved
    /// once: a body that brings thousands of new measurements must not
    /// copy and save the catalog once per measurement.
    pub fn add_columns_to_tables(
        &self,
        db: &str,
        wanted: &[(&str, &[ColumnRequest])],
    ) -> Vec<Vec<Result<Column, SchemaConflict>>> {
        let _guard = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current.load_full();
        let existing = current.database(db);
        let mut database = existing
            .map(|d| Database::clone(d))
            .unwrap_or_else(|| Database {
                name: Arc::from(db),
                tables: HashMap::new(),
            });
        let mut changed = existing.is_none();
        let mut all = Vec::with_capacity(wanted.len());
        for &(table, requests) in wanted {
            let mut t = database
                .tables
                .get(table)
                .map(|t| Table::clone(t))
                .unwrap_or_else(|| Table {
                    name: Arc::from(table),
                    ..Table::default()
                });
            let mut table_changed = !database.tables.contains_key(table);
            let results = requests
                .iter()
                .map(|request| match t.columns.get(request.name.as_str()) {
                    Some(existing) => check(existing, request.kind),
                    None => {
                        let column = Column {
                            id: t.names.len() as u32,
                            kind: request.kind,
                        };
                        let name: Arc<str> = Arc::from(request.name.as_str());
                        t.names.push(name.clone());
                        t.columns.insert(name, column);
                        table_changed = true;
                        Ok(column)
                    }
                })
                .collect();
            if table_changed {
                database.tables.insert(t.name.clone(), Arc::new(t));
                changed = true;
            }
            all.push(results);
        }
        if changed {
            let mut next = Snapshot::clone(&current);
            next.databases
                .insert(database.name.clone(), Arc::new(database));
            self.save(&next);
            self.current.store(Arc::new(next));
        }
        all
    }
}

/// Whether an existing column can take a value of kind `wanted`.
pub fn check(existing: &Column, wanted: ColumnKind) -> Result<Column, SchemaConflict> {
    match (existing.kind, wanted) {
        (a, b) if a == b => Ok(*existing),
        (ColumnKind::Field(existing), ColumnKind::Field(wanted)) => {
            Err(SchemaConflict::FieldType { existing, wanted })
        }
        (existing, _) => Err(SchemaConflict::TagFieldClash { existing }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, t: FieldType) -> ColumnRequest {
        ColumnRequest {
            name: name.into(),
            kind: ColumnKind::Field(t),
        }
    }

    #[test]
    fn many_tables_take_their_columns_in_one_change_that_is_saved() {
        let dir = std::env::temp_dir().join(format!("hydrant-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("catalog.json");
        let catalog = Catalog::open(file.clone()).unwrap();
        catalog.add_columns("db", "t1", &[field("v", FieldType::Float)]);
        let v_int = [
            field("v", FieldType::Integer),
            field("w", FieldType::String),
        ];
        let v_float = [field("v", FieldType::Float)];
        let results = catalog
            .add_columns_to_tables("db", &[("t1", &v_int), ("t2", &v_int), ("t1", &v_float)]);
        assert!(matches!(
            results[0][0],
            Err(SchemaConflict::FieldType { .. })
        ));
        assert_eq!(results[0][1].as_ref().unwrap().id, 1);
        assert_eq!(results[1].iter().filter(|r| r.is_ok()).count(), 2);
        assert_eq!(results[2][0].as_ref().unwrap().id, 0);
        let reopened = Catalog::open(file).unwrap().snapshot();
        let names = |t: &str| reopened.table("db", t).unwrap().names.clone();
        assert_eq!(
            names("t1").iter().map(|n| n.as_ref()).collect::<Vec<_>>(),
            ["v", "w"]
        );
        assert_eq!(
            names("t2").iter().map(|n| n.as_ref()).collect::<Vec<_>>(),
            ["v", "w"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn columns_keep_their_first_kind() {
        let catalog = Catalog::default();
        let tag = ColumnRequest {
            name: "host".into(),
            kind: ColumnKind::Tag,
        };
        let first = catalog.add_columns("db", "cpu", &[tag.clone(), field("v", FieldType::Float)]);
        assert!(first.iter().all(|r| r.is_ok()));
        let second = catalog.add_columns(
            "db",
            "cpu",
            &[
                field("v", FieldType::Integer),
                field("host", FieldType::Float),
                tag,
            ],
        );
        assert_eq!(
            second[0],
            Err(SchemaConflict::FieldType {
                existing: FieldType::Float,
                wanted: FieldType::Integer
            })
        );
        assert_eq!(
            second[1],
            Err(SchemaConflict::TagFieldClash {
                existing: ColumnKind::Tag
            })
        );
        assert_eq!(
            second[2],
            Ok(Column {
                id: 0,
                kind: ColumnKind::Tag
            })
        );
        let snapshot = catalog.snapshot();
        assert_eq!(snapshot.table("db", "cpu").unwrap().names.len(), 2);
    }

    #[test]
    fn a_saved_catalog_opens_with_the_same_columns_and_ids() {
        let file =
            std::env::temp_dir().join(format!("hydrant-catalog-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let catalog = Catalog::open(file.clone()).unwrap();
        catalog.ensure_database("empty");
        let tag = ColumnRequest {
            name: "host".into(),
            kind: ColumnKind::Tag,
        };
        catalog.add_columns("db", "cpu", &[tag, field("v", FieldType::Integer)]);
        catalog.add_columns("db", "cpu", &[field("s", FieldType::String)]);
        let again = Catalog::open(file.clone()).unwrap().snapshot();
        assert_eq!(again.database_names().len(), 2);
        let cpu = again.table("db", "cpu").unwrap();
        let names: Vec<&str> = cpu.names.iter().map(|n| n.as_ref()).collect();
        assert_eq!(names, ["host", "v", "s"]);
        assert_eq!(
            cpu.column("s"),
            Some(Column {
                id: 2,
                kind: ColumnKind::Field(FieldType::String)
            })
        );
        std::fs::write(&file, b"{not json").unwrap();
        assert!(Catalog::open(file.clone()).is_err());
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn racing_threads_agree_on_one_type() {
        let catalog = Arc::new(Catalog::default());
        let types = [
            FieldType::Float,
            FieldType::Integer,
            FieldType::String,
            FieldType::Boolean,
        ];
        let handles: Vec<_> = types
            .iter()
            .map(|&t| {
                let catalog = catalog.clone();
                std::thread::spawn(move || {
                    catalog.add_columns("db", "m", &[field("v", t)])[0].is_ok()
                })
            })
            .collect();
        let winners = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(winners, 1);
        assert_eq!(catalog.snapshot().table("db", "m").unwrap().names.len(), 1);
    }
}

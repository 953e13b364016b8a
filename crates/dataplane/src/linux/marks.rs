//! Stable mark indices of secured ports (see [`super::sg`]), kept in the state
//! directory so that adding or removing one port never renumbers the others: their
//! chains, which embed the index, stay untouched. Losing the file only renumbers (the
//! dispatch chains are rewritten atomically with it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Error;

/// Port device name -> index (1..=65535).
pub type Marks = BTreeMap<String, u16>;

fn path(dir: &Path) -> PathBuf {
    dir.join("marks.json")
}

/// Read the saved indices (none when the file does not exist).
pub fn load(dir: &Path) -> Result<Marks, Error> {
    let path = path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| Error::Parse {
            what: path.display().to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Marks::new()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
    }
}

/// Save the indices.
pub fn save(dir: &Path, marks: &Marks) -> Result<(), Error> {
    let path = path(dir);
    let text = serde_json::to_string(marks).map_err(|source| Error::Parse {
        what: path.display().to_string(),
        source,
    })?;
    std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))
}

/// Indices for exactly `devices`: the saved ones kept, new ones given the lowest free.
pub fn assign(saved: &Marks, devices: &[&str]) -> Result<Marks, Error> {
    let mut out: Marks = devices
        .iter()
        .filter_map(|d| saved.get(*d).map(|i| (d.to_string(), *i)))
        .collect();
    let mut used: std::collections::BTreeSet<u16> = out.values().copied().collect();
    let mut next = 1u16;
    for d in devices {
        if out.contains_key(*d) {
            continue;
        }
        while used.contains(&next) {
            next = next
                .checked_add(1)
                .ok_or_else(|| Error::Plan("more than 65535 secured ports".into()))?;
        }
        used.insert(next);
        out.insert(d.to_string(), next);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_stay_stable() {
        let first = assign(&Marks::new(), &["a", "b", "c"]).unwrap();
        assert_eq!(first.values().copied().collect::<Vec<_>>(), [1, 2, 3]);
        let second = assign(&first, &["c", "d"]).unwrap();
        assert_eq!(second["c"], 3);
        assert_eq!(second["d"], 1);
    }
}

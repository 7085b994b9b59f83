//! Questionnaire definitions: the one owner of "which published questionnaire version is this, and
//! what is derived from it". Push, the index statistics, the reports and the exports all ask here.
//!
//! A published version never changes (the registry refuses a second definition under one code and
//! version), so an entry never goes stale and is parsed, and its stats layout built, once per
//! process. A version's *status* (open or closed) does change: it is not cached here, and callers
//! read it from the database when it matters.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use indices::StatsLayout;
use schema::Questionnaire;
use sea_orm::{ConnectionTrait, DbErr};

use crate::registry;

/// A published questionnaire version and what is derived from it once.
#[derive(Debug)]
pub struct Definition {
    /// The questionnaire, parsed.
    pub questionnaire: Questionnaire,
    /// Its index-statistics layout.
    pub layout: Arc<StatsLayout>,
}

impl Definition {
    /// The definition of `questionnaire`, its layout built now.
    pub fn new(questionnaire: Questionnaire) -> Definition {
        let layout = Arc::new(StatsLayout::new(&questionnaire));
        Definition {
            questionnaire,
            layout,
        }
    }
}

/// Parsed definitions by (code, version), read from the database on first use.
#[derive(Default)]
pub struct Definitions {
    map: RwLock<HashMap<(String, u32), Arc<Definition>>>,
}

impl Definitions {
    /// The definition of `code` v`version` if it is in memory (no database read).
    pub fn cached(&self, code: &str, version: u32) -> Option<Arc<Definition>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        // Nearly every call names one of a handful of versions: look them up without building a
        // key (no allocation on a hit).
        map.iter()
            .find(|((c, v), _)| c == code && *v == version)
            .map(|(_, d)| d.clone())
    }

    /// The definition of `code` v`version`, if published.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
        version: u32,
    ) -> Result<Option<Arc<Definition>>, DbErr> {
        if let Some(d) = self.cached(code, version) {
            return Ok(Some(d));
        }
        let Ok(v) = i32::try_from(version) else {
            return Ok(None);
        };
        let Some(row) = registry::find(db, code, v).await? else {
            return Ok(None);
        };
        let q: Questionnaire = serde_json::from_str(&row.definition)
            .map_err(|e| DbErr::Custom(format!("stored questionnaire does not parse: {e}")))?;
        let d = Arc::new(Definition::new(q));
        // A concurrent first read may have inserted it meanwhile: keep the first, so every
        // caller shares one layout (stats are combined only under the same layout).
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        Ok(Some(
            map.entry((code.to_owned(), version)).or_insert(d).clone(),
        ))
    }

    /// The definition of a version that stored rows name (forms, stats): one that is not published
    /// is an error, since rows only ever name published versions.
    pub async fn stored(
        &self,
        db: &impl ConnectionTrait,
        code: &str,
        version: i32,
    ) -> Result<Arc<Definition>, DbErr> {
        let v = u32::try_from(version).unwrap_or(u32::MAX);
        self.get(db, code, v)
            .await?
            .ok_or_else(|| DbErr::Custom(format!("unknown questionnaire {code} v{version}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_carries_its_layout() {
        let d = Definition::new(schema::builtin::sipas().clone());
        assert_eq!(d.layout.questionnaire.as_ref(), "sipas");
        assert_eq!(d.layout.version, d.questionnaire.version);
        let defs = Definitions::default();
        assert!(defs.cached("sipas", 1).is_none());
    }
}

//! Instances held in memory: for tests and development servers, beside Compute's real
//! implementation of [`Instances`].

use std::{collections::BTreeMap, sync::Mutex};

use async_trait::async_trait;
use types::Error;
use uuid::Uuid;

use crate::{model::InstanceMetadata, Instances};

#[derive(Default)]
pub struct MemoryInstances {
    instances: Mutex<BTreeMap<Uuid, InstanceMetadata>>,
}

impl MemoryInstances {
    pub fn insert(&self, md: InstanceMetadata) {
        self.lock().insert(md.uuid, md);
    }

    pub fn get(&self, id: Uuid) -> Option<InstanceMetadata> {
        self.lock().get(&id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, InstanceMetadata>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Instances for MemoryInstances {
    async fn metadata(&self, id: Uuid) -> Result<Option<InstanceMetadata>, Error> {
        Ok(self.get(id))
    }

    async fn set_password(&self, id: Uuid, password: &str) -> Result<bool, Error> {
        let mut all = self.lock();
        let md = all
            .get_mut(&id)
            .ok_or_else(|| Error::not_found(format!("Instance {id} could not be found.")))?;
        if md.password.as_deref().is_some_and(|p| !p.is_empty()) {
            return Ok(false);
        }
        md.password = Some(password.to_owned());
        Ok(true)
    }
}

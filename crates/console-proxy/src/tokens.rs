//! Console tokens held in memory, as Nova's console auth tokens behave: a random token
//! per console request, valid for `token_ttl` (Nova's 600 s) for as many connections
//! as its holder opens, then gone. Only a hash of each token is kept. For one process
//! (`oxistack up`); Compute keeps them in its database when its processes are many.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use types::Error;

use crate::Consoles;

/// Nova's `[consoleauth] token_ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

pub struct MemoryTokens {
    ttl: Duration,
    tokens: Mutex<HashMap<[u8; 32], (SocketAddr, Instant)>>,
}

impl Default for MemoryTokens {
    fn default() -> Self {
        MemoryTokens::with_ttl(DEFAULT_TTL)
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl MemoryTokens {
    pub fn with_ttl(ttl: Duration) -> MemoryTokens {
        MemoryTokens {
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for the VNC server at `addr`, valid for the TTL.
    pub fn issue(&self, addr: SocketAddr) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        let mut all = self.lock();
        let now = Instant::now();
        all.retain(|_, (_, expires)| *expires > now);
        all.insert(hash(&token), (addr, now + self.ttl));
        token
    }

    /// Forget every token of the VNC server at `addr` (its instance was deleted).
    pub fn revoke(&self, addr: SocketAddr) {
        self.lock().retain(|_, (a, _)| *a != addr);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (SocketAddr, Instant)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Consoles for MemoryTokens {
    async fn resolve(&self, token: &str) -> Result<Option<SocketAddr>, Error> {
        let mut all = self.lock();
        let key = hash(token);
        match all.get(&key) {
            Some((addr, expires)) if *expires > Instant::now() => Ok(Some(*addr)),
            Some(_) => {
                all.remove(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_open_their_console_until_they_expire() {
        let t = MemoryTokens::with_ttl(Duration::from_millis(200));
        let vnc: SocketAddr = "127.0.0.1:5901".parse().unwrap();
        let token = t.issue(vnc);
        assert_eq!(t.resolve(&token).await.unwrap(), Some(vnc));
        // reusable until it expires, as Nova's
        assert_eq!(t.resolve(&token).await.unwrap(), Some(vnc));
        assert_eq!(t.resolve("guessed").await.unwrap(), None);
        assert_eq!(t.resolve(&token.to_uppercase()).await.unwrap(), None);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(t.resolve(&token).await.unwrap(), None);

        let other = t.issue(vnc);
        t.revoke(vnc);
        assert_eq!(t.resolve(&other).await.unwrap(), None);
    }
}

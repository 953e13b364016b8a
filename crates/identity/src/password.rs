//! Password and secret hashing: Argon2id with the crate's recommended parameters, run off
//! the async runtime because it is slow on purpose.

use argon2::{
    password_hash::{
        rand_core::OsRng, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher,
        PasswordVerifier, Salt, SaltString,
    },
    Algorithm, Argon2, Block, Params, Version,
};

use api_common::{Error, Result};

/// Argon2 exactly as `argon2::Argon2` computes it (same algorithm, version, parameters and
/// PHC strings), but with its working memory (19 MiB with the default parameters) allocated
/// by [`working_memory`], so that the memory goes back to the system after each hash.
struct Hasher;

/// Reserving more than glibc's largest dynamic mmap threshold (32 MiB) makes the allocator
/// map the block afresh and unmap it when it is freed. Argon2's own `vec![Block; n]` of
/// 19 MiB is below that threshold once the first hash raised it, so glibc kept each freed
/// block in the arena of the thread that hashed: the server's resident memory grew by
/// ~19 MiB for every blocking thread that ever checked a password (126 MiB after 50 logins).
/// Only the blocks used are touched, so nothing beyond them becomes resident.
fn working_memory(blocks: usize) -> Vec<Block> {
    const ALWAYS_MAPPED: usize = 32 * 1024 * 1024 / Block::SIZE + 1;
    let mut v = Vec::with_capacity(blocks.max(ALWAYS_MAPPED));
    v.resize(blocks, Block::default());
    v
}

impl PasswordHasher for Hasher {
    type Params = Params;

    // Mirrors argon2 0.5's `hash_password_customized` + `hash_password`.
    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        alg_id: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let algorithm = alg_id
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = salt.into();
        let mut salt_arr = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_arr)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output = Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(
                password,
                salt_bytes,
                out,
                working_memory(params.block_count()),
            )?)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

pub async fn hash(secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Hasher
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

/// Whether `secret` matches `hash`. A malformed hash never matches.
pub async fn verify(secret: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| Hasher.verify_password(secret.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify() {
        let h = super::hash("s3cret".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("s3cret".into(), h.clone()).await);
        assert!(!super::verify("wrong".into(), h).await);
        assert!(!super::verify("x".into(), "not a hash".into()).await);
    }
}

//! Keypairs: imported (SSH public keys, X.509 certificates at 2.2+) or generated (an RSA
//! SSH key whose private half is returned once), per user.

use api_common::{Error, Result};
use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::json;

use super::{Caller, Compute};
use crate::{
    model::{now, Keypair},
    policies::Rule,
    store,
};

/// A keypair to create.
#[derive(Debug, Clone)]
pub struct KeypairCreate {
    pub name: String,
    /// `ssh` or `x509`.
    pub kind: String,
    /// None: generate one.
    pub public_key: Option<String>,
    /// Another user's (admins, 2.10).
    pub user_id: Option<String>,
}

fn not_found(name: &str, user: &str) -> Error {
    Error::not_found(format!("Keypair {name} not found for user {user}"))
}

fn invalid(reason: &str) -> Error {
    Error::bad_request(format!("Keypair data is invalid: {reason}"))
}

/// `aa:bb:...` of a digest.
fn colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fingerprint of an OpenSSH public key line (the MD5 of its key blob), or why not.
pub fn ssh_fingerprint(line: &str) -> Result<String> {
    let bad = || invalid("failed to generate fingerprint");
    let mut words = line.split_whitespace();
    let (kind, data) = (words.next().ok_or_else(bad)?, words.next().ok_or_else(bad)?);
    const KINDS: &[&str] = &[
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    if !KINDS.contains(&kind) {
        return Err(bad());
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| bad())?;
    // the blob starts with its own type, as an SSH string
    let len = blob
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(bad)?;
    if blob.get(4..4 + len) != Some(kind.as_bytes()) {
        return Err(bad());
    }
    Ok(colons(&Md5::digest(&blob)))
}

/// The fingerprint of a PEM certificate (the SHA-1 of its DER), or why not.
pub fn x509_fingerprint(pem: &str) -> Result<String> {
    let bad = || invalid("failed to generate fingerprint");
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|r| r.split("-----END CERTIFICATE-----").next())
        .ok_or_else(bad)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.split_whitespace().collect::<String>())
        .map_err(|_| bad())?;
    Ok(colons(&sha1::Sha1::digest(&der)))
}

/// A new RSA key: (private key PEM, public key line).
fn generate_ssh(comment: &str) -> Result<(String, String)> {
    use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
    let mut rng = rand::thread_rng();
    let key =
        rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| Error::internal(e.to_string()))?;
    let private = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::internal(e.to_string()))?
        .to_string();
    let mpint = |b: Vec<u8>| {
        let mut v = b;
        if v.first().is_some_and(|x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        v
    };
    let mut blob = Vec::new();
    for part in [
        b"ssh-rsa".to_vec(),
        mpint(key.e().to_bytes_be()),
        mpint(key.n().to_bytes_be()),
    ] {
        let len =
            u32::try_from(part.len()).map_err(|_| Error::internal("an RSA part over 4 GiB"))?;
        blob.extend_from_slice(&len.to_be_bytes());
        blob.extend_from_slice(&part);
    }
    let public = format!(
        "ssh-rsa {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    Ok((private, public))
}

impl Compute {
    fn keypair_target(&self, caller: &Caller, user: &str) -> serde_json::Value {
        json!({"user_id": user, "project_id": caller.project()})
    }

    /// The user a keypair call is about: the caller, or (policy permitting) `user_id`.
    fn keypair_user(&self, caller: &Caller, rule: Rule, user_id: Option<&str>) -> Result<String> {
        let user = user_id.unwrap_or(caller.user()).to_owned();
        self.authorize(caller, rule, &self.keypair_target(caller, &user))?;
        Ok(user)
    }

    /// Create (import or generate) a keypair; a generated one comes back with its
    /// private key.
    pub async fn keypair_create(
        &self,
        caller: &Caller<'_>,
        req: KeypairCreate,
    ) -> Result<(Keypair, Option<String>)> {
        let user = self.keypair_user(caller, Rule::KeypairCreate, req.user_id.as_deref())?;
        let (public_key, private_key) = match req.public_key {
            Some(k) => (k, None),
            None if req.kind == "ssh" => {
                let (private, public) = generate_ssh("Generated-by-Nova")?;
                (public, Some(private))
            }
            None => return Err(invalid("X.509 keypairs can only be imported here")),
        };
        let fingerprint = match req.kind.as_str() {
            "x509" => x509_fingerprint(&public_key)?,
            _ => ssh_fingerprint(&public_key)?,
        };
        let limit = self.quota_limit(caller.project(), "key_pairs").await?;
        let mut tx = self.db.begin_write().await?;
        if limit >= 0 && store::keypairs::count(&mut tx, &user).await? >= limit {
            return Err(Error::forbidden("Quota exceeded, too many key pairs."));
        }
        let k = Keypair {
            id: rand::random::<u32>() as i64 >> 1,
            name: req.name,
            user_id: user,
            fingerprint,
            public_key,
            kind: req.kind,
            created_at: now(),
        };
        if !store::keypairs::insert(&mut tx, &k).await? {
            return Err(Error::conflict(format!(
                "Key pair '{}' already exists.",
                k.name
            )));
        }
        tx.commit().await?;
        Ok((k, private_key))
    }

    pub async fn keypair_list(
        &self,
        caller: &Caller<'_>,
        user_id: Option<&str>,
    ) -> Result<Vec<Keypair>> {
        let user = self.keypair_user(caller, Rule::KeypairIndex, user_id)?;
        let mut c = self.conn().await?;
        store::keypairs::list(&mut c, &user).await
    }

    pub async fn keypair_show(
        &self,
        caller: &Caller<'_>,
        name: &str,
        user_id: Option<&str>,
    ) -> Result<Keypair> {
        let user = self.keypair_user(caller, Rule::KeypairShow, user_id)?;
        let mut c = self.conn().await?;
        store::keypairs::get(&mut c, &user, name)
            .await?
            .ok_or_else(|| not_found(name, &user))
    }

    pub async fn keypair_delete(
        &self,
        caller: &Caller<'_>,
        name: &str,
        user_id: Option<&str>,
    ) -> Result<()> {
        let user = self.keypair_user(caller, Rule::KeypairDelete, user_id)?;
        let mut c = self.conn().await?;
        if !store::keypairs::delete(&mut c, &user, name).await? {
            return Err(not_found(name, &user));
        }
        Ok(())
    }

    /// The caller's own keypair (server create's `key_name`).
    pub(crate) async fn own_keypair(&self, caller: &Caller<'_>, name: &str) -> Result<Keypair> {
        let mut c = self.conn().await?;
        store::keypairs::get(&mut c, caller.user(), name)
            .await?
            .ok_or_else(|| Error::bad_request("Invalid key_name provided."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        let (_, public) = generate_ssh("test").unwrap();
        let fp = ssh_fingerprint(&public).unwrap();
        assert_eq!(fp.len(), 47);
        assert!(ssh_fingerprint("ssh-rsa AAAA").is_err());
        assert!(ssh_fingerprint("nonsense").is_err());
        // a key whose blob names another type
        let ed =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7x9ln6uZLLkfXM8iatrnAAuytVHeCznU8VlEgx7TvQ x";
        assert!(ssh_fingerprint(ed).is_ok());
        assert!(ssh_fingerprint(&ed.replace("ssh-ed25519", "ssh-rsa")).is_err());
    }
}

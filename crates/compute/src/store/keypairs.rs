//! Keypairs, per user.

use db::Columns;
use sqlx::any::AnyRow;
use types::Result;

use super::Conn;
use crate::model::Keypair;

const COLUMNS: &str = "id, name, user_id, fingerprint, public_key, kind, created_at";

fn row(r: &AnyRow) -> Result<Keypair> {
    let c = Columns::new("keypairs", r);
    Ok(Keypair {
        id: c.get("id")?,
        name: c.get("name")?,
        user_id: c.get("user_id")?,
        fingerprint: c.get("fingerprint")?,
        public_key: c.get("public_key")?,
        kind: c.get("kind")?,
        created_at: c.get("created_at")?,
    })
}

/// Whether it was inserted (false: the user has one by that name).
pub async fn insert(conn: &mut Conn, k: &Keypair) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO keypairs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
    ))
    .bind(k.id)
    .bind(&k.name)
    .bind(&k.user_id)
    .bind(&k.fingerprint)
    .bind(&k.public_key)
    .bind(&k.kind)
    .bind(&k.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn get(conn: &mut Conn, user: &str, name: &str) -> Result<Option<Keypair>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 AND name = $2"
    ))
    .bind(user)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(row).transpose()
}

/// The user's keypairs, by name.
pub async fn list(conn: &mut Conn, user: &str) -> Result<Vec<Keypair>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM keypairs WHERE user_id = $1 ORDER BY name"
    ))
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(row).collect()
}

pub async fn count(conn: &mut Conn, user: &str) -> Result<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM keypairs WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *conn)
        .await?;
    Columns::new("keypairs", &r).get("n")
}

pub async fn delete(conn: &mut Conn, user: &str, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
        .bind(user)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

//! What guests leave and what their consoles open: the password a guest posted to the
//! metadata service, and console tokens (a hash of each, the VNC server it opens, its
//! expiry in Unix seconds), shared by every process over the database.

use db::Columns;
use types::{Result, ServerId};

use super::Conn;

/// The password the guest posted (`None`: none yet).
pub async fn password(conn: &mut Conn, id: &ServerId) -> Result<Option<String>> {
    let r = sqlx::query("SELECT password FROM instances WHERE id = $1 AND deleted = 0")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match r {
        Some(r) => Columns::new("instances", &r).get("password"),
        None => Ok(None),
    }
}

/// Keep `password` unless the server has one: false when it had (or is gone).
pub async fn set_password(conn: &mut Conn, id: &ServerId, password: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE instances SET password = $1 WHERE id = $2 AND deleted = 0 AND (password IS NULL OR password = '')",
    )
    .bind(password)
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Forget the password the guest posted (it may post a new one).
pub async fn clear_password(conn: &mut Conn, id: &ServerId) -> Result<()> {
    sqlx::query("UPDATE instances SET password = NULL WHERE id = $1 AND deleted = 0")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A console token's record.
pub struct ConsoleToken<'a> {
    pub hash: &'a str,
    pub server: &'a ServerId,
    pub host: &'a str,
    pub port: u16,
    pub expires: i64,
}

/// Record a token, dropping the ones expired before `now`.
pub async fn insert_console_token(conn: &mut Conn, t: &ConsoleToken<'_>, now: i64) -> Result<()> {
    sqlx::query("DELETE FROM console_tokens WHERE expires <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO console_tokens (token_hash, instance_id, host, port, expires) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.hash)
    .bind(t.server.as_str())
    .bind(t.host)
    .bind(i64::from(t.port))
    .bind(t.expires)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The VNC server (host, port) of the token hashed `hash`, while it has not expired and
/// its server exists and is not being deleted.
pub async fn console_target(
    conn: &mut Conn,
    hash: &str,
    now: i64,
) -> Result<Option<(String, i64)>> {
    let r = sqlx::query(
        "SELECT t.host, t.port FROM console_tokens t JOIN instances i ON i.id = t.instance_id \
         WHERE t.token_hash = $1 AND t.expires > $2 AND i.deleted = 0 \
         AND (i.task_state IS NULL OR i.task_state <> 'deleting')",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let c = Columns::new("console_tokens", &r);
    Ok(Some((c.get("host")?, c.get("port")?)))
}

/// Forget every console token of a server (it is being deleted).
pub async fn delete_console_tokens(conn: &mut Conn, id: &ServerId) -> Result<()> {
    sqlx::query("DELETE FROM console_tokens WHERE instance_id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

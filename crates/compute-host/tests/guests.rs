//! What a guest booted by Compute sees, in one process (the fake driver): the metadata
//! service serves the server's own content to a request signed as the network agent's
//! proxy signs it, and nothing to any other; its config drive is a vfat image with the
//! same content; `console url show` gives a token the VNC proxy (reading Compute's
//! database, as it does in another process) relays to the guest's VNC server, until
//! the token expires or the server is deleted.

mod common;

use std::{net::SocketAddr, process::Command};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use base64::Engine as _;
use common::Flow;
use compute::{
    clients::Clients,
    guests::Guests,
    store::guests::{insert_console_token, ConsoleToken},
};
use console_proxy::Consoles as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use service::Mode;
use test_support::{unique, Resp};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFI74kR7KNZGZOZutyXETtqFluVRISqc9ARqhDxpCIIm guests@oxistack";

/// The test cloud's `[metadata] metadata_proxy_shared_secret` (its default).
const SECRET: &str = "";

/// A metadata request as the network agent's proxy makes it, signed with `secret`
/// (`None`: unsigned).
async fn metadata(
    f: &Flow,
    method: Method,
    path: &str,
    id: &str,
    project: &str,
    secret: Option<&str>,
    body: &str,
) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("x-instance-id", id)
        .header("x-tenant-id", project)
        .header("x-forwarded-for", "10.30.0.5");
    if let Some(s) = secret {
        b = b.header("x-instance-id-signature", metadata::api::sign(s, id));
    }
    f.tc.send("metadata", b.body(Body::from(body.to_owned())).unwrap())
        .await
}

async fn create(f: &Flow, token: &str, version: &str, server: Value) -> String {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v2.1/servers")
        .header("x-auth-token", token)
        .header("content-type", "application/json")
        .header("openstack-api-version", format!("compute {version}"))
        .body(Body::from(json!({ "server": server }).to_string()))
        .unwrap();
    let r = f.tc.send("compute_api", req).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    r.json()["server"]["id"].as_str().unwrap().to_owned()
}

async fn delete(f: &Flow, token: &str, id: &str) {
    let r =
        f.tc.call(
            "compute_api",
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    f.wait_gone(token, id).await;
}

/// A file of a vfat image, read with mtools.
fn mtype(image: &std::path::Path, path: &str) -> String {
    let out = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(image)
        .arg(format!("::{path}"))
        .output()
        .expect("mtools is installed");
    assert!(
        out.status.success(),
        "mtype {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reads_its_metadata_and_its_config_drive() {
    let f = Flow::start().await;
    let demo = f.tc.demo_token().await;
    let (net, _) = f.network(&demo, "md-net", "10.30.0.0/24").await;
    let key_name = unique("key");
    let r =
        f.tc.call(
            "compute_api",
            Method::POST,
            "/v2.1/os-keypairs",
            Some(&demo),
            Some(json!({"keypair": {"name": key_name, "public_key": KEY}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let user_data = "#!/bin/sh\necho hello from user data\n";
    let id = create(
        &f,
        &demo,
        "2.37",
        json!({
            "name": "md-vm",
            "imageRef": f.image,
            "flavorRef": f.flavor,
            "networks": [{"uuid": net}],
            "key_name": key_name,
            "user_data": base64::engine::general_purpose::STANDARD.encode(user_data),
            "metadata": {"role": "web"},
            "config_drive": true,
            "adminPass": "drive-secret",
        }),
    )
    .await;
    let s = f.wait_status(&demo, &id, "ACTIVE").await;
    let project = s["tenant_id"].as_str().unwrap().to_owned();
    let port = f.ports_of(&id).await.remove(0);

    // meta_data.json: the server's name, uuid, key; its zone and metadata
    let get = |path: &'static str, secret: Option<&'static str>| {
        metadata(&f, Method::GET, path, &id, &project, secret, "")
    };
    let r = get("/openstack/latest/meta_data.json", Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let md = r.json();
    assert_eq!(md["uuid"], id.as_str(), "{md}");
    assert_eq!(md["name"], "md-vm", "{md}");
    assert_eq!(md["hostname"], "md-vm.novalocal", "{md}");
    assert_eq!(md["project_id"], project.as_str(), "{md}");
    assert_eq!(md["availability_zone"], "nova", "{md}");
    assert_eq!(md["public_keys"][&key_name], KEY, "{md}");
    assert_eq!(md["keys"][0]["type"], "ssh", "{md}");
    assert_eq!(md["meta"]["role"], "web", "{md}");
    assert_eq!(md["launch_index"], 0, "{md}");
    assert!(
        md.get("admin_pass").is_none(),
        "the API never serves it: {md}"
    );

    // user_data, decoded
    let r = get("/openstack/latest/user_data", Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), user_data);

    // network_data.json: its port, network and subnet as Networking has them
    let r = get("/openstack/latest/network_data.json", Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let nd = r.json();
    assert_eq!(
        nd["links"][0]["ethernet_mac_address"], port["mac_address"],
        "{nd}"
    );
    assert_eq!(
        nd["links"][0]["id"],
        format!("tap{}", &port["id"].as_str().unwrap()[..11]),
        "{nd}"
    );
    assert_eq!(nd["networks"][0]["network_id"], net.as_str(), "{nd}");
    // a subnet with DHCP: the guest asks DHCP for its address, as Nova tells it
    assert_eq!(nd["networks"][0]["type"], "ipv4_dhcp", "{nd}");

    // the EC2 tree
    let r = get("/latest/meta-data/public-keys/0/openssh-key", Some(SECRET)).await;
    assert_eq!(r.text(), KEY);
    let r = get("/latest/meta-data/local-ipv4", Some(SECRET)).await;
    assert_eq!(
        r.text(),
        port["fixed_ips"][0]["ip_address"].as_str().unwrap()
    );

    // unsigned, wrongly signed, another project's: refused
    let r = get("/openstack/latest/meta_data.json", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = get("/openstack/latest/meta_data.json", Some("not-the-secret")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = metadata(
        &f,
        Method::GET,
        "/openstack/latest/meta_data.json",
        &id,
        "another-project",
        Some(SECRET),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // the guest posts its password once; it is kept in Compute's database
    let post = |body: &'static str| {
        metadata(
            &f,
            Method::POST,
            "/openstack/latest/password",
            &id,
            &project,
            Some(SECRET),
            body,
        )
    };
    let r = post("ZW5jcnlwdGVk").await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(
        get("/openstack/latest/password", Some(SECRET)).await.text(),
        "ZW5jcnlwdGVk"
    );
    assert_eq!(post("other").await.status, StatusCode::CONFLICT);
    // the owner reads it through the Compute API (os-server-password), and clears it
    let api = |method: Method| {
        let (f, id) = (&f, &id);
        async move {
            f.tc.call(
                "compute_api",
                method,
                &format!("/v2.1/servers/{id}/os-server-password"),
                Some(&f.admin),
                None,
            )
            .await
        }
    };
    let r = api(Method::GET).await;
    assert_eq!(r.json()["password"], "ZW5jcnlwdGVk", "{}", r.text());
    assert_eq!(api(Method::DELETE).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api(Method::GET).await.json()["password"], "");
    let r = post("c2Vjb25k").await;
    assert!(
        r.status.is_success(),
        "a cleared password may be posted again: {}",
        r.text()
    );

    // the config drive: a vfat image with the same content, and the admin password
    let guest = f.fake.spec(&id).expect("the guest is on the fake host");
    let drive = guest
        .config_drive
        .expect("the server asked for a config drive");
    let label = Command::new("mlabel")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-i"])
        .arg(&drive)
        .arg("::")
        .output()
        .expect("mtools is installed");
    assert!(
        String::from_utf8_lossy(&label.stdout).contains("config-2"),
        "{label:?}"
    );
    let on_drive: Value =
        serde_json::from_str(&mtype(&drive, "openstack/latest/meta_data.json")).unwrap();
    assert_eq!(on_drive["uuid"], id.as_str(), "{on_drive}");
    assert_eq!(on_drive["name"], "md-vm", "{on_drive}");
    assert_eq!(on_drive["public_keys"][&key_name], KEY, "{on_drive}");
    assert_eq!(on_drive["admin_pass"], "drive-secret", "{on_drive}");
    assert_eq!(mtype(&drive, "openstack/latest/user_data"), user_data);
    let nd_drive: Value =
        serde_json::from_str(&mtype(&drive, "openstack/latest/network_data.json")).unwrap();
    assert_eq!(nd_drive["links"], nd["links"]);
    assert_eq!(nd_drive["networks"], nd["networks"]);
    assert_eq!(mtype(&drive, "ec2/latest/user-data"), user_data);

    // a server that asked for none gets none (the host does not force one by default)
    let plain = create(
        &f,
        &demo,
        "2.37",
        json!({"name": "plain", "imageRef": f.image, "flavorRef": f.flavor, "networks": "none"}),
    )
    .await;
    f.wait_status(&demo, &plain, "ACTIVE").await;
    assert!(f.fake.spec(&plain).unwrap().config_drive.is_none());
    let r = metadata(
        &f,
        Method::GET,
        "/openstack/latest/network_data.json",
        &plain,
        &project,
        Some(SECRET),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.json()["links"].as_array().is_none_or(Vec::is_empty),
        "{}",
        r.text()
    );

    // deleted: nothing is served any more
    delete(&f, &demo, &id).await;
    let r = get("/openstack/latest/meta_data.json", Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    delete(&f, &demo, &plain).await;
}

/// The token in a console URL (`...?path=%3Ftoken%3D<token>`).
fn token_of(url: &str) -> String {
    url.rsplit_once("%3Ftoken%3D")
        .unwrap_or_else(|| panic!("no token in {url}"))
        .1
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_urls_open_the_guests_vnc_until_they_expire() {
    let f = Flow::start().await;
    let demo = f.tc.demo_token().await;
    // the guest's VNC server: a listener that greets as RFB does and echoes
    let vnc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnc_addr = vnc.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = vnc.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(b"RFB 003.008\n").await;
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    f.fake.set_vnc_address(Some(vnc_addr));
    let id = create(
        &f,
        &demo,
        "2.37",
        json!({"name": "console-vm", "imageRef": f.image, "flavorRef": f.flavor, "networks": "none"}),
    )
    .await;
    f.wait_status(&demo, &id, "ACTIVE").await;

    // 2.6+: remote-consoles
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/v2.1/servers/{id}/remote-consoles"))
        .header("x-auth-token", &demo)
        .header("content-type", "application/json")
        .header("openstack-api-version", "compute 2.6")
        .body(Body::from(
            json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}).to_string(),
        ))
        .unwrap();
    let r = f.tc.send("compute_api", req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rc = r.json()["remote_console"].clone();
    assert_eq!(rc["protocol"], "vnc", "{rc}");
    assert_eq!(rc["type"], "novnc", "{rc}");
    let url = rc["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3D"),
        "{url}"
    );
    let token = token_of(url);

    // below 2.6: the os-getVNCConsole action
    let r =
        f.tc.call(
            "compute_api",
            Method::POST,
            &format!("/v2.1/servers/{id}/action"),
            Some(&demo),
            Some(json!({"os-getVNCConsole": {"type": "novnc"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let other = token_of(r.json()["console"]["url"].as_str().unwrap());
    assert_ne!(other, token);

    // the tokens resolve from the database alone, as a proxy in another process does
    let ctx = f.tc.cloud.agent_context(&f.tc.cfg, Mode::AllInOne);
    let guests = Guests::new(
        f.tc.db.clone(),
        &Clients::new(ctx.service_token.clone(), &ctx.endpoints),
    );
    assert_eq!(guests.resolve(&token).await.unwrap(), Some(vnc_addr));
    assert_eq!(guests.resolve(&other).await.unwrap(), Some(vnc_addr));
    assert_eq!(guests.resolve("guessed").await.unwrap(), None);
    assert_eq!(guests.resolve(&token.to_uppercase()).await.unwrap(), None);
    // an expired one is refused
    let now = chrono::Utc::now().timestamp();
    let server: types::ServerId = id.parse().unwrap();
    let expired = "expired-token";
    let mut conn = f.tc.db.pool.acquire().await.unwrap();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(expired.as_bytes()));
    insert_console_token(
        &mut conn,
        &ConsoleToken {
            hash: &hash,
            server: &server,
            host: "127.0.0.1",
            port: vnc_addr.port(),
            expires: now - 1,
        },
        now - 700,
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(guests.resolve(expired).await.unwrap(), None);

    // the proxy relays a websocket with the token to the guest's VNC server
    let proxy: SocketAddr =
        f.tc.url("novncproxy")
            .trim_start_matches("http://")
            .parse()
            .unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{proxy}/websockify?token={token}"))
            .await
            .expect("the proxy opens the console");
    let greeting = ws.next().await.unwrap().unwrap().into_data();
    assert_eq!(&greeting[..], b"RFB 003.008\n");
    ws.send(tokio_tungstenite::tungstenite::Message::binary(
        b"RFB 003.008\n".to_vec(),
    ))
    .await
    .unwrap();
    let echo = ws.next().await.unwrap().unwrap().into_data();
    assert_eq!(&echo[..], b"RFB 003.008\n");
    drop(ws);
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{proxy}/websockify?token=guessed")).await;
    assert!(refused.is_err(), "an unknown token opened a console");

    // a deleted server's tokens open nothing
    delete(&f, &demo, &id).await;
    assert_eq!(guests.resolve(&token).await.unwrap(), None);
    assert_eq!(guests.resolve(&other).await.unwrap(), None);
}

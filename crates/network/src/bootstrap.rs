//! What `oxistack up` creates, as DevStack does: an external network `public` (flat, on
//! physical network `public`, whose bridge gives the host the subnet's gateway address,
//! so the host reaches floating IPs) with a subnet in a documentation-like range, and
//! for the demo project a network `private` with a subnet and a router `router1`
//! gatewayed to `public`. Idempotent: what exists by name is kept.

use api_common::{AuthContext, Result};

use crate::{
    app::{GatewayRequest, InterfaceRequest, NetworkCreate, RouterCreate, SubnetCreate},
    Networking,
};

/// The projects the defaults belong to.
pub struct Projects<'a> {
    pub admin: &'a str,
    pub demo: &'a str,
}

fn admin_context(project: &str) -> AuthContext {
    AuthContext {
        user_id: "oxistack-bootstrap".into(),
        user_name: "oxistack-bootstrap".into(),
        project_id: Some(project.to_owned()),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        ..Default::default()
    }
}

impl Networking {
    /// Create the default networks (see the module docs) unless they exist.
    pub async fn bootstrap_defaults(&self, projects: Projects<'_>) -> Result<()> {
        let ctx = admin_context(projects.admin);
        let caller = self.caller(&ctx);
        let nets = self.network_list(&caller).await?;
        let find = |name: &str, project: &str| {
            nets.iter()
                .find(|n| n.name == name && n.project_id == project)
                .map(|n| n.id.clone())
        };
        let public = match find("public", projects.admin) {
            Some(id) => id,
            None => {
                let n = self
                    .network_create(
                        &caller,
                        NetworkCreate {
                            name: Some("public".into()),
                            external: Some(true),
                            network_type: Some("flat".into()),
                            physical_network: Some("public".into()),
                            ..Default::default()
                        },
                    )
                    .await?;
                let mut subnet = SubnetCreate::new(
                    n.id.clone(),
                    &self.cfg.bootstrap.public_cidr,
                    "public-subnet",
                );
                // Nothing on the external network asks for DHCP (as DevStack's).
                subnet.enable_dhcp = Some(false);
                self.subnet_create(&caller, subnet).await?;
                tracing::info!(network = %n.id, "created the external network public");
                n.id
            }
        };
        if find("private", projects.demo).is_some() {
            return Ok(());
        }
        let demo_ctx = admin_context(projects.demo);
        let demo = self.caller(&demo_ctx);
        let private = self
            .network_create(
                &demo,
                NetworkCreate {
                    name: Some("private".into()),
                    ..Default::default()
                },
            )
            .await?;
        let subnet = self
            .subnet_create(
                &demo,
                SubnetCreate::new(
                    private.id.clone(),
                    &self.cfg.bootstrap.private_cidr,
                    "private-subnet",
                ),
            )
            .await?;
        let router = self
            .router_create(
                &demo,
                RouterCreate {
                    name: Some("router1".into()),
                    external_gateway_info: Some(Some(GatewayRequest {
                        network_id: public,
                        enable_snat: None,
                        external_fixed_ips: None,
                        qos_policy_id: None,
                    })),
                    ..Default::default()
                },
            )
            .await?;
        self.router_add_interface(
            &demo,
            &router.id,
            InterfaceRequest {
                subnet_id: Some(subnet.id),
                port_id: None,
            },
        )
        .await?;
        tracing::info!(network = %private.id, router = %router.id, "created private and router1 for demo");
        Ok(())
    }
}

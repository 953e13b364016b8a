//! The scheduler's filters and weighers, as Nova's filter scheduler runs them over the
//! hosts Placement offered: pure functions of a host's state and the request.

use std::collections::BTreeMap;

use crate::{clients::placement::ProviderSummary, rpc::RequestSpec};

/// What the scheduler knows of one candidate host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostState {
    pub host: String,
    pub node: String,
    pub node_uuid: String,
    /// Its nova-compute service is enabled (not `disabled`).
    pub enabled: bool,
    /// Its service reported within `service_down_time`, and is not forced down.
    pub up: bool,
    pub availability_zone: String,
    /// The metadata of every aggregate the host is in (key -> values).
    pub aggregate_metadata: BTreeMap<String, Vec<String>>,
    /// `QEMU`, `fake`...
    pub hypervisor_type: String,
    /// The host's placement summary (capacity and usage).
    pub summary: ProviderSummary,
}

impl HostState {
    fn free(&self, class: &str) -> f64 {
        self.summary
            .resources
            .get(class)
            .map_or(0.0, |c| c.free() as f64)
    }
}

/// Why a host was filtered out (for the log), or `None` when it passes.
pub fn filter(host: &HostState, spec: &RequestSpec) -> Option<&'static str> {
    if spec.ignore_hosts.contains(&host.host) {
        return Some("IgnoreHosts");
    }
    if spec.force_host.as_ref().is_some_and(|f| *f != host.host) {
        return Some("ForceHost");
    }
    if !host.enabled || !host.up {
        return Some("ComputeFilter");
    }
    if let Some(az) = &spec.availability_zone {
        if *az != host.availability_zone {
            return Some("AvailabilityZoneFilter");
        }
    }
    if !image_properties_pass(host, &spec.image_properties) {
        return Some("ImagePropertiesFilter");
    }
    if !aggregate_extra_specs_pass(host, &spec.flavor.extra_specs) {
        return Some("AggregateInstanceExtraSpecsFilter");
    }
    if let Some(g) = &spec.group {
        let on_host = g.member_hosts.iter().filter(|h| **h == host.host).count();
        match g.policy.as_str() {
            "affinity" if !g.member_hosts.is_empty() && on_host == 0 => {
                return Some("ServerGroupAffinityFilter")
            }
            "anti-affinity" => {
                let max = g.max_server_per_host.unwrap_or(1) as usize;
                if on_host >= max {
                    return Some("ServerGroupAntiAffinityFilter");
                }
            }
            _ => {}
        }
    }
    None
}

/// `hw_architecture`, `img_hv_type` against the host (Nova's ImagePropertiesFilter).
fn image_properties_pass(host: &HostState, props: &BTreeMap<String, String>) -> bool {
    let arch = props
        .get("hw_architecture")
        .or_else(|| props.get("architecture"));
    if let Some(a) = arch {
        let a = a.to_ascii_lowercase();
        if !matches!(a.as_str(), "x86_64" | "amd64" | "i686" | "x86") {
            return false;
        }
    }
    if let Some(hv) = props
        .get("img_hv_type")
        .or_else(|| props.get("hypervisor_type"))
    {
        let hv = hv.to_ascii_lowercase();
        let host_hv = host.hypervisor_type.to_ascii_lowercase();
        // qemu and kvm are one hypervisor type to Nova's libvirt driver
        let same = hv == host_hv
            || (matches!(hv.as_str(), "qemu" | "kvm")
                && matches!(host_hv.as_str(), "qemu" | "kvm"));
        if !same {
            return false;
        }
    }
    true
}

/// Flavor extra specs scoped `aggregate_instance_extra_specs:` (or unscoped, as the
/// filter reads them too) must be in the metadata of one of the host's aggregates.
fn aggregate_extra_specs_pass(host: &HostState, specs: &BTreeMap<String, String>) -> bool {
    for (k, v) in specs {
        let key = match k.split_once(':') {
            Some(("aggregate_instance_extra_specs", key)) => key,
            Some(_) => continue,
            None => k.as_str(),
        };
        let Some(values) = host.aggregate_metadata.get(key) else {
            if k.contains(':') {
                return false;
            }
            // an unscoped spec no aggregate speaks of is not this filter's business
            continue;
        };
        let wanted: Vec<&str> = v.split(',').map(str::trim).collect();
        if !values
            .iter()
            .flat_map(|s| s.split(','))
            .any(|have| wanted.contains(&have.trim()))
        {
            return false;
        }
    }
    true
}

/// Nova's weighers (free RAM, free vCPUs, soft (anti-)affinity), each normalized to
/// [0, 1] over the hosts and multiplied: the hosts, best first.
pub fn weigh(mut hosts: Vec<HostState>, spec: &RequestSpec) -> Vec<HostState> {
    if hosts.len() < 2 {
        return hosts;
    }
    let ram: Vec<f64> = hosts.iter().map(|h| h.free("MEMORY_MB")).collect();
    let cpu: Vec<f64> = hosts.iter().map(|h| h.free("VCPU")).collect();
    let members: Vec<f64> = hosts
        .iter()
        .map(|h| {
            spec.group.as_ref().map_or(0.0, |g| {
                g.member_hosts.iter().filter(|m| **m == h.host).count() as f64
            })
        })
        .collect();
    let group_multiplier = match spec.group.as_ref().map(|g| g.policy.as_str()) {
        Some("soft-affinity") => 1.0,
        Some("soft-anti-affinity") => -1.0,
        _ => 0.0,
    };
    let (ram, cpu, members) = (normalize(&ram), normalize(&cpu), normalize(&members));
    let mut weighed: Vec<(f64, usize)> = (0..hosts.len())
        .map(|i| (ram[i] + cpu[i] + group_multiplier * members[i], i))
        .collect();
    // best first; ties by name so the order is stable
    weighed.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| hosts[a.1].host.cmp(&hosts[b.1].host))
    });
    let order: Vec<usize> = weighed.into_iter().map(|(_, i)| i).collect();
    let mut slots: Vec<Option<HostState>> = hosts.drain(..).map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn normalize(v: &[f64]) -> Vec<f64> {
    let (min, max) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    if (max - min).abs() < f64::EPSILON {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| (x - min) / (max - min)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clients::placement::Capacity,
        rpc::{FlavorSpec, GroupSpec},
    };

    fn host(name: &str, ram_free: u64, cpu_free: u64) -> HostState {
        HostState {
            host: name.into(),
            node: name.into(),
            node_uuid: format!("uuid-{name}"),
            enabled: true,
            up: true,
            availability_zone: "nova".into(),
            aggregate_metadata: BTreeMap::new(),
            hypervisor_type: "QEMU".into(),
            summary: ProviderSummary {
                resources: [
                    (
                        "MEMORY_MB".into(),
                        Capacity {
                            capacity: 10_000,
                            used: 10_000 - ram_free,
                        },
                    ),
                    (
                        "VCPU".into(),
                        Capacity {
                            capacity: 64,
                            used: 64 - cpu_free,
                        },
                    ),
                ]
                .into(),
                ..Default::default()
            },
        }
    }

    fn spec() -> RequestSpec {
        RequestSpec {
            consumer_id: "s1".into(),
            flavor: FlavorSpec {
                vcpus: 1,
                memory_mb: 512,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn group(policy: &str, members: &[&str]) -> Option<GroupSpec> {
        Some(GroupSpec {
            id: "g".into(),
            policy: policy.into(),
            max_server_per_host: None,
            member_hosts: members.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// A change to a host or request, and the filter it should fail.
    type Case = (Box<dyn Fn(&mut HostState, &mut RequestSpec)>, &'static str);

    #[test]
    fn filters_say_why() {
        let h = host("a", 1000, 4);
        let s = spec();
        assert_eq!(filter(&h, &s), None);
        let cases: Vec<Case> = vec![
            (Box::new(|h, _| h.enabled = false), "ComputeFilter"),
            (Box::new(|h, _| h.up = false), "ComputeFilter"),
            (
                Box::new(|_, s| s.availability_zone = Some("az2".into())),
                "AvailabilityZoneFilter",
            ),
            (
                Box::new(|_, s| s.ignore_hosts = vec!["a".into()]),
                "IgnoreHosts",
            ),
            (
                Box::new(|_, s| s.force_host = Some("b".into())),
                "ForceHost",
            ),
            (
                Box::new(|_, s| {
                    s.image_properties
                        .insert("hw_architecture".into(), "aarch64".into());
                }),
                "ImagePropertiesFilter",
            ),
            (
                Box::new(|_, s| {
                    s.image_properties
                        .insert("img_hv_type".into(), "xen".into());
                }),
                "ImagePropertiesFilter",
            ),
            (
                Box::new(|_, s| s.group = group("anti-affinity", &["a"])),
                "ServerGroupAntiAffinityFilter",
            ),
            (
                Box::new(|_, s| s.group = group("affinity", &["b"])),
                "ServerGroupAffinityFilter",
            ),
            (
                Box::new(|_, s| {
                    s.flavor
                        .extra_specs
                        .insert("aggregate_instance_extra_specs:ssd".into(), "true".into());
                }),
                "AggregateInstanceExtraSpecsFilter",
            ),
        ];
        for (change, why) in cases {
            let (mut h, mut s) = (h.clone(), spec());
            change(&mut h, &mut s);
            assert_eq!(filter(&h, &s), Some(why));
        }
        // what passes
        let mut s = spec();
        s.group = group("affinity", &[]);
        assert_eq!(
            filter(&h, &s),
            None,
            "the first member of an affinity group goes anywhere"
        );
        s.group = group("anti-affinity", &["b"]);
        assert_eq!(filter(&h, &s), None);
        s.image_properties
            .insert("img_hv_type".into(), "kvm".into());
        assert_eq!(filter(&h, &s), None, "kvm images run on QEMU hosts");
        let mut h2 = h.clone();
        h2.aggregate_metadata
            .insert("ssd".into(), vec!["true".into()]);
        s.flavor
            .extra_specs
            .insert("aggregate_instance_extra_specs:ssd".into(), "true".into());
        assert_eq!(filter(&h2, &s), None);
    }

    #[test]
    fn weighers_prefer_free_hosts_and_follow_soft_policies() {
        let hosts = vec![host("a", 100, 1), host("b", 5000, 8), host("c", 2000, 4)];
        let names = |v: Vec<HostState>| v.into_iter().map(|h| h.host).collect::<Vec<_>>();
        assert_eq!(names(weigh(hosts.clone(), &spec())), ["b", "c", "a"]);
        let mut s = spec();
        s.group = group("soft-affinity", &["a", "a", "a"]);
        let eq = vec![host("a", 1000, 4), host("b", 1000, 4)];
        assert_eq!(names(weigh(eq.clone(), &s)), ["a", "b"]);
        s.group = group("soft-anti-affinity", &["a"]);
        assert_eq!(names(weigh(eq, &s)), ["b", "a"]);
    }
}

//! The standard resource classes (os-resource-classes) and traits (os-traits): they
//! exist in every deployment, are listed with the custom ones, and cannot be deleted.

use std::{collections::HashSet, sync::OnceLock};

/// os-resource-classes' standard classes, in its order.
pub const RESOURCE_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// os-traits' standard traits (a name a line, sorted).
const TRAITS_TEXT: &str = include_str!("standard_traits.txt");

/// The standard traits, sorted.
pub fn traits() -> &'static [&'static str] {
    static T: OnceLock<Vec<&'static str>> = OnceLock::new();
    T.get_or_init(|| TRAITS_TEXT.lines().filter(|l| !l.is_empty()).collect())
}

/// Whether `name` is a standard trait.
pub fn is_standard_trait(name: &str) -> bool {
    static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
    S.get_or_init(|| traits().iter().copied().collect())
        .contains(name)
}

pub fn is_standard_class(name: &str) -> bool {
    RESOURCE_CLASSES.contains(&name)
}

/// `^[A-Z0-9_]+$`: the form of every resource class and trait name.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// `^CUSTOM_[A-Z0-9_]+$`: the form of a custom resource class or trait.
pub fn is_custom(s: &str) -> bool {
    s.strip_prefix("CUSTOM_").is_some_and(is_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_standard_trait("COMPUTE_VOLUME_MULTI_ATTACH"));
        assert!(is_standard_trait("HW_CPU_X86_AVX2"));
        assert!(!is_standard_trait("CUSTOM_X"));
        assert!(traits().windows(2).all(|w| w[0] < w[1]));
        assert!(is_custom("CUSTOM_GOLD_1"));
        assert!(!is_custom("CUSTOM_"));
        assert!(!is_custom("CUSTOM_gold"));
        assert!(is_name("VCPU") && !is_name("vcpu") && !is_name(""));
        assert!(is_standard_class("SRIOV_NET_VF"));
    }
}

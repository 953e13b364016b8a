//! Builds oxistack's test guest image and proves it boots; the work is in `tests/boot.rs`.

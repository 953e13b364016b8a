#!/usr/bin/env bash
# Build oxistack's test guest image (what CirrOS is for OpenStack) from Debian
# packages only: the Debian kernel, busybox-static and dropbear.
#
#   images/build-test-image.sh OUTDIR
#   images/build-test-image.sh --install-only   (the Debian packages only, as root)
#
# writes into OUTDIR:
#   vmlinuz            the Debian kernel
#   initramfs          the whole guest OS (busybox init, DHCP, metadata, dropbear)
#   test-image.qcow2   a self-booting disk: MBR + one FAT partition holding
#                      syslinux, the same kernel and the same initramfs
#   manifest.json      sizes, sha256 sums, kernel and package versions
#
# The guest always runs from the initramfs: the disk is only its boot medium,
# nothing is mounted from it. A second run with unchanged inputs (this script,
# images/guest/*, the versions of the packages used) returns at once.
#
# Needs root only to install missing Debian packages; everything else (no
# mount, no loop device) works unprivileged.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR | --install-only" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac
INSTALL_ONLY=0
[ "$1" != --install-only ] || INSTALL_ONLY=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST="$HERE/guest"
export LC_ALL=C

log() { echo "build-test-image: $*" >&2; }

# ------------------------------------------------------------ one build at a time
if [ $INSTALL_ONLY = 0 ]; then
    OUT=$(realpath -m "$1")
    mkdir -p "$OUT"
    exec 9>"$OUT/.lock"
    flock 9
fi

# ------------------------------------------------------------ packages
# the image's inputs, then what the boot tests use (qemu, dnsmasq, ssh)
IMAGE_PKGS=(linux-image-amd64 busybox-static dropbear-bin syslinux syslinux-common
    mtools dosfstools cpio kmod gzip qemu-utils)
TEST_PKGS=(qemu-system-x86 dnsmasq-base openssh-client iproute2)

pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
missing_image=0
for p in "${IMAGE_PKGS[@]}" "${TEST_PKGS[@]}"; do
    # qemu-img from any qemu-utils build will do (a newer one may be installed)
    if [ "$p" = qemu-utils ] && command -v qemu-img >/dev/null; then continue; fi
    if ! pkg_installed "$p"; then
        missing+=("$p")
        case " ${IMAGE_PKGS[*]} " in *" $p "*) missing_image=1 ;; esac
    fi
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root to install them)"
    [ $missing_image = 0 ] || exit 1
    missing=()
fi
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
fi
# A backported qemu-utils cannot live beside Debian 12's qemu-system-x86: apt
# removes it when installing the latter. Put Debian's own back in that case.
if ! command -v qemu-img >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { log "qemu-img is missing (install qemu-utils)"; exit 1; }
    log "installing qemu-utils"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-utils >&2
fi
[ $INSTALL_ONLY = 0 ] || exit 0

# ------------------------------------------------------------ inputs
# the newest installed kernel that has both an image and its modules
KVER=
for k in $(for f in /boot/vmlinuz-*-amd64; do [ -e "$f" ] && echo "${f#/boot/vmlinuz-}"; done | sort -V -r); do
    if [ -d "/lib/modules/$k" ]; then KVER=$k; break; fi
done
[ -n "$KVER" ] || { log "no kernel with modules in /boot and /lib/modules"; exit 1; }
KERNEL=/boot/vmlinuz-$KVER
[ -r "$KERNEL" ] || { log "$KERNEL is not readable"; exit 1; }

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
KPKG=$(dpkg-query -S "$KERNEL" 2>/dev/null | cut -d: -f1 || true)
KPKG=${KPKG:-linux-image-$KVER}
VERSIONS="kernel=$KVER $KPKG=$(pkgver "$KPKG") busybox-static=$(pkgver busybox-static) dropbear-bin=$(pkgver dropbear-bin) syslinux=$(pkgver syslinux) libc6=$(pkgver libc6)"

INPUTS_SHA=$( {
    sha256sum "$HERE/build-test-image.sh" "$GUEST"/* | sed "s|$HERE/||"
    echo "$VERSIONS"
} | sha256sum | cut -d' ' -f1)

ARTIFACTS=(vmlinuz initramfs test-image.qcow2 manifest.json)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$INPUTS_SHA" ]; then
    ok=1
    for a in "${ARTIFACTS[@]}"; do [ -s "$OUT/$a" ] || ok=0; done
    if [ $ok = 1 ]; then
        log "up to date in $OUT"
        exit 0
    fi
fi
rm -f "$OUT/.stamp"

log "building from $VERSIONS"
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"

# ------------------------------------------------------------ root filesystem
cd "$ROOT"
mkdir -p bin sbin usr/bin usr/sbin lib lib64 etc root proc sys dev run tmp mnt \
    var/log var/run usr/share/udhcpc usr/share/oxistack etc/acpi/PWRF etc/dropbear
chmod 700 root
chmod 1777 tmp

# busybox and all its applets (symlinks at the paths busybox itself lists)
install -m 755 /bin/busybox bin/busybox
if ldd bin/busybox >/dev/null 2>&1; then
    log "/bin/busybox is not static: is busybox-static installed?"
    exit 1
fi
busybox --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$applet" ] && continue
    rel=$(dirname "$applet" | sed 's|[^/]*|..|g')
    ln -s "$rel/bin/busybox" "$applet"
done
ln -s bin/busybox init

# dropbear and the shared libraries it needs, at their real paths
copy_with_libs() {
    local bin=$1 dest=$2 lib
    install -D -m 755 "$bin" "$ROOT/$dest"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        local target=$ROOT$lib
        [ -e "$target" ] || install -D -m 755 "$(readlink -f "$lib")" "$target"
    done
}
copy_with_libs /usr/sbin/dropbear usr/sbin/dropbear
copy_with_libs /usr/bin/dropbearkey usr/bin/dropbearkey
printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' >etc/ld.so.conf
ldconfig -r "$ROOT" 2>/dev/null || true

# kernel modules: virtio (pci, net, blk, scsi, rng, console), the emulated
# Intel NICs (hw_vif_model=e1000/e1000e), ext4, config drive filesystems
# (iso9660, vfat) and controllers (IDE/SATA cdrom), ACPI power button.
# Resolved with their dependencies, in load order.
MODULES=(virtio_pci virtio_net virtio_blk virtio_scsi virtio_rng virtio_console e1000 e1000e
    ext4 isofs vfat nls_cp437 nls_ascii nls_utf8
    ata_piix ahci sd_mod sr_mod button evdev)
MODDIR=lib/modules/$KVER
mkdir -p "$MODDIR"
: >"$WORK/load"
for m in "${MODULES[@]}"; do
    modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}' >>"$WORK/load" || {
        log "module $m not found for $KVER"
        exit 1
    }
done
awk '!seen[$0]++' "$WORK/load" | while read -r path; do
    rel=${path#/lib/modules/"$KVER"/}
    rel=${rel#/usr/lib/modules/"$KVER"/}
    case "$rel" in
        *.ko.xz) install -D -m 644 /dev/null "$MODDIR/${rel%.xz}"; xz -dc "$path" >"$MODDIR/${rel%.xz}"; rel=${rel%.xz} ;;
        *.ko.zst) install -D -m 644 /dev/null "$MODDIR/${rel%.zst}"; zstd -qdc "$path" >"$MODDIR/${rel%.zst}"; rel=${rel%.zst} ;;
        *.ko.gz) install -D -m 644 /dev/null "$MODDIR/${rel%.gz}"; gzip -dc "$path" >"$MODDIR/${rel%.gz}"; rel=${rel%.gz} ;;
        *) install -D -m 644 "$path" "$MODDIR/$rel" ;;
    esac
    echo "$rel"
done >"$MODDIR/oxistack.load"
cp "/lib/modules/$KVER/modules.builtin" "/lib/modules/$KVER/modules.order" "$MODDIR/" 2>/dev/null || true
depmod -b "$ROOT" "$KVER" 2>/dev/null || true

# guest scripts
install -m 755 "$GUEST/rcS" etc/rcS
install -m 755 "$GUEST/udhcpc.script" usr/share/udhcpc/default.script
install -m 644 "$GUEST/json.awk" usr/share/oxistack/json.awk

cat >etc/inittab <<'EOF'
::sysinit:/etc/rcS
ttyS0::respawn:-/bin/sh
tty1::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/echo "oxistack-test-image: shutting down"
::shutdown:/bin/umount -a -r
EOF
cat >etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
exec /sbin/poweroff
EOF
chmod 755 etc/acpi/PWRF/00000080

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
# `*`: no password login (dropbear refuses an empty field); SSH keys only
cat >etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 600 etc/shadow
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
printf '/bin/sh\n/bin/ash\n' >etc/shells
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >etc/nsswitch.conf
cat >etc/profile <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\u@\h:\w\$ '
EOF
printf 'oxistack-test\n' >etc/hostname
: >etc/resolv.conf
cat >etc/os-release <<EOF
NAME="oxistack test image"
ID=oxistack-test-image
PRETTY_NAME="oxistack test image (Debian kernel $KVER, busybox, dropbear)"
EOF

# ------------------------------------------------------------ initramfs
# reproducible: fixed owner and mtime, sorted names, no gzip timestamp
find . -exec touch -h -d @0 {} +
find . -mindepth 1 -print0 | sort -z |
    cpio --quiet -o -0 -H newc -R 0:0 --reproducible >"$WORK/initramfs.cpio"
gzip -n -9 -c "$WORK/initramfs.cpio" >"$WORK/initramfs"
cp "$KERNEL" "$WORK/vmlinuz"
cd "$WORK"

# ------------------------------------------------------------ bootable disk
# MBR (syslinux mbr.bin + one active FAT16 partition from 1 MiB) with
# syslinux installed by its mtools installer: no mount, no loop device.
DISK_MB=64
PART_START=2048
PART_SECTORS=$(((DISK_MB * 1024 * 1024) / 512 - PART_START))
MBR_BIN=
for f in /usr/lib/SYSLINUX/mbr.bin /usr/lib/syslinux/mbr/mbr.bin /usr/lib/syslinux/mbr.bin; do
    [ -r "$f" ] && { MBR_BIN=$f; break; }
done
[ -n "$MBR_BIN" ] || { log "syslinux mbr.bin not found"; exit 1; }

rm -f part.img
# fixed timestamps (SOURCE_DATE_EPOCH, read by mkfs.vfat and mtools) and
# volume id, so that the same inputs give the same disk
export SOURCE_DATE_EPOCH=946684800
mkfs.vfat --invariant -F 16 -n OXIBOOT -i 0x0d15ea5e -h "$PART_START" -C part.img $((PART_SECTORS / 2)) >/dev/null
cat >syslinux.cfg <<'EOF'
SERIAL 0 115200
DEFAULT oxistack
PROMPT 0
TIMEOUT 0
LABEL oxistack
  LINUX /vmlinuz
  INITRD /initramfs
  APPEND console=tty0 console=ttyS0,115200
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i part.img vmlinuz initramfs syslinux.cfg ::/
syslinux --install part.img

# 16-byte partition entry: active, CHS fields at their LBA-only values,
# type 0x0e (FAT16, LBA), start and length in sectors (little endian)
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
rm -f disk.raw
truncate -s "${DISK_MB}M" disk.raw
dd if="$MBR_BIN" of=disk.raw bs=440 count=1 conv=notrunc status=none
# shellcheck disable=SC2059 # the format is built from escapes on purpose
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $PART_START)$(le32 $PART_SECTORS)" |
    dd of=disk.raw bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of=disk.raw bs=1 seek=510 conv=notrunc status=none
dd if=part.img of=disk.raw bs=512 seek=$PART_START conv=notrunc,sparse status=none
qemu-img convert -f raw -O qcow2 -o compat=1.1 disk.raw test-image.qcow2

# ------------------------------------------------------------ manifest
entry() {
    local f=$1
    printf '    "%s": {"size": %s, "sha256": "%s"}' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
}
{
    echo '{'
    echo '  "name": "oxistack-test-image",'
    echo "  \"kernel_version\": \"$KVER\","
    echo '  "kernel_cmdline": "console=tty0 console=ttyS0,115200",'
    echo '  "ready_marker": "OXISTACK-TEST-IMAGE-READY",'
    echo "  \"disk_format\": \"qcow2\","
    echo "  \"disk_virtual_size\": $((DISK_MB * 1024 * 1024)),"
    echo "  \"inputs_sha256\": \"$INPUTS_SHA\","
    echo '  "packages": {'
    first=1
    for kv in $VERSIONS; do
        [ $first = 1 ] || echo ','
        first=0
        printf '    "%s": "%s"' "${kv%%=*}" "${kv#*=}"
    done
    echo
    echo '  },'
    echo '  "files": {'
    entry vmlinuz; echo ','
    entry initramfs; echo ','
    entry test-image.qcow2; echo
    echo '  }'
    echo '}'
} >manifest.json

for a in vmlinuz initramfs test-image.qcow2 manifest.json; do
    mv -f "$a" "$OUT/$a"
done
echo "$INPUTS_SHA" >"$OUT/.stamp"
log "built in $OUT: vmlinuz $(stat -c %s "$OUT/vmlinuz") B, initramfs $(stat -c %s "$OUT/initramfs") B, test-image.qcow2 $(stat -c %s "$OUT/test-image.qcow2") B"

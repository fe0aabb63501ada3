#!/bin/sh
# mkimage.sh OUTDIR [NAME [USER]]: writes OUTDIR/image-oci.tar, an OCI image layout
# archive of one layer holding busybox-static and its applets, built with
# tar, gzip and sha256sum only (no registry, no network). Its command is
# `sleep infinity`, so it also serves as the pod sandbox ("pause") image.
# USER, when given, is the image's config User (e.g. 1234 or 1234:5678).
# Prints the image name and digests.
set -eu
out=${1:?usage: mkimage.sh OUTDIR [NAME]}
name=${2:-localhost/edged-busybox:1}
user=${3:-}
case "$user" in *[!0-9a-z:_-]*) echo "mkimage: bad USER $user" >&2; exit 1 ;; esac
userfield=${user:+"\"User\":\"$user\","}
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkimage: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
case "$(uname -m)" in
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; armv7l) arch=arm ;; *) arch=$(uname -m) ;;
esac
root="$out/rootfs"; blobs="$out/oci/blobs/sha256"
rm -rf "$root" "$out/oci"
mkdir -p "$blobs" "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
         "$root/root" "$root/run" "$root/var/run"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
: > "$root/etc/hosts"; : > "$root/etc/resolv.conf"

# blob FILE: moves FILE into the blob store, prints "<digest> <size>".
blob() {
  d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  mv "$1" "$blobs/$d"; echo "$d $s"
}
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$out/layer.tar" .
diffid=$(sha256sum "$out/layer.tar" | cut -d' ' -f1)
gzip -n -f "$out/layer.tar"
set -- $(blob "$out/layer.tar.gz"); layer=$1; layer_size=$2
printf '{"architecture":"%s","os":"linux","config":{%s"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sleep","infinity"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"tests/edged/mkimage.sh"}]}' \
  "$arch" "$userfield" "$diffid" > "$out/config.json"
set -- $(blob "$out/config.json"); config=$1; config_size=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" > "$out/manifest.json"
set -- $(blob "$out/manifest.json"); manifest=$1; manifest_size=$2
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$arch" "$name" "${name##*:}" > "$out/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$out/oci" \
    -cf "$out/image-oci.tar" oci-layout index.json blobs
rm -rf "$root" "$out/oci"
echo "image=$name manifest=sha256:$manifest config=sha256:$config"

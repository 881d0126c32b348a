#!/usr/bin/env bash
# Downloads Segment Anything checkpoints from their official URLs into MODEL_DIR.
#
#   scripts/download_models.sh [mobile_sam] [vit_h] [vit_l] [vit_b]
#                              [sam2.1_hiera_tiny] [sam2.1_hiera_small] [sam2.1_hiera_base_plus] [sam2.1_hiera_large]
#
# Without arguments: mobile_sam and vit_h (the two files the Python example fetches).
# MODEL_DIR defaults to models/ in the repository (where scripts/run.sh looks).
# DOWNLOAD_BASE_URL, when set, replaces the official hosts: every file is fetched as
# $DOWNLOAD_BASE_URL/<file name> (a mirror, or a local copy served over HTTP).
#
# A file already present with the right size is skipped. Each download goes to a hidden
# temporary name in MODEL_DIR and is renamed only after its size and SHA-256 match, so an
# interrupted or failed run never leaves a partial checkpoint behind.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
model_dir="${MODEL_DIR:-$repo/models}"

# name -> file, official URL, size in bytes, SHA-256 (sizes and digests of the published files)
declare -A file url size sha
file[mobile_sam]=mobile_sam.pt
url[mobile_sam]=https://raw.githubusercontent.com/ChaoningZhang/MobileSAM/master/weights/mobile_sam.pt
size[mobile_sam]=40728226
sha[mobile_sam]=6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f
file[vit_h]=sam_vit_h_4b8939.pth
url[vit_h]=https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth
size[vit_h]=2564550879
sha[vit_h]=a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e
file[vit_l]=sam_vit_l_0b3195.pth
url[vit_l]=https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth
size[vit_l]=1249524607
sha[vit_l]=3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622
file[vit_b]=sam_vit_b_01ec64.pth
url[vit_b]=https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth
size[vit_b]=375042383
sha[vit_b]=ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912
# SAM 2.1 (Meta's release of 2024-09-28, the URLs of facebookresearch/sam2's
# checkpoints/download_ckpts.sh). Sizes and SHA-256: the Git LFS records of the same files on
# Hugging Face: facebook/sam2.1-hiera-tiny and facebook/sam2.1-hiera-small (Meta's own
# repositories); base_plus and large from mirrors of the release whose tiny and small records
# equal Meta's.
sam2_url=https://dl.fbaipublicfiles.com/segment_anything_2/092824
file[sam2.1_hiera_tiny]=sam2.1_hiera_tiny.pt
url[sam2.1_hiera_tiny]=$sam2_url/sam2.1_hiera_tiny.pt
size[sam2.1_hiera_tiny]=156008466
sha[sam2.1_hiera_tiny]=7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69
file[sam2.1_hiera_small]=sam2.1_hiera_small.pt
url[sam2.1_hiera_small]=$sam2_url/sam2.1_hiera_small.pt
size[sam2.1_hiera_small]=184416285
sha[sam2.1_hiera_small]=6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38
file[sam2.1_hiera_base_plus]=sam2.1_hiera_base_plus.pt
url[sam2.1_hiera_base_plus]=$sam2_url/sam2.1_hiera_base_plus.pt
size[sam2.1_hiera_base_plus]=323606802
sha[sam2.1_hiera_base_plus]=a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5
file[sam2.1_hiera_large]=sam2.1_hiera_large.pt
url[sam2.1_hiera_large]=$sam2_url/sam2.1_hiera_large.pt
size[sam2.1_hiera_large]=898083611
sha[sam2.1_hiera_large]=2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318

say() { echo "download_models: $*" >&2; }

models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobile_sam vit_h)
for m in "${models[@]}"; do
    if [ -z "${file[$m]:-}" ]; then
        say "unknown model '$m': choose from mobile_sam, vit_h, vit_l, vit_b," \
            "sam2.1_hiera_tiny, sam2.1_hiera_small, sam2.1_hiera_base_plus, sam2.1_hiera_large"
        exit 2
    fi
done
command -v curl >/dev/null || { say "curl is not installed (scripts/install-deps.sh installs it)"; exit 1; }

mkdir -p "$model_dir"
tmp=""
# The temporary file goes away on every exit path: error, Ctrl-C, kill.
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for m in "${models[@]}"; do
    dest="$model_dir/${file[$m]}"
    if [ -f "$dest" ]; then
        have=$(stat -c %s "$dest")
        if [ "$have" = "${size[$m]}" ]; then
            say "$dest already there, skipping"
            continue
        fi
        say "$dest exists but has $have bytes, expected ${size[$m]}: remove it and run again"
        exit 1
    fi
    src="${url[$m]}"
    [ -z "${DOWNLOAD_BASE_URL:-}" ] || src="${DOWNLOAD_BASE_URL%/}/${file[$m]}"
    tmp="$model_dir/.${file[$m]}.part.$$"
    say "fetching $src ($((size[$m] / 1000000)) MB) -> $dest"
    rc=0
    curl --fail --location --connect-timeout 15 --retry 3 --progress-bar --output "$tmp" "$src" || rc=$?
    if [ $rc -ne 0 ]; then
        say "cannot download $src (curl exit code $rc): check the network connection or proxy," \
            "or set DOWNLOAD_BASE_URL to a reachable mirror. No partial file was left in $model_dir."
        exit 1
    fi
    have=$(stat -c %s "$tmp")
    if [ "$have" != "${size[$m]}" ]; then
        say "$src gave $have bytes, expected ${size[$m]} (truncated download or wrong file); discarded"
        exit 1
    fi
    digest=$(sha256sum "$tmp" | cut -d' ' -f1)
    if [ "$digest" != "${sha[$m]}" ]; then
        say "$src has SHA-256 $digest, expected ${sha[$m]} (corrupted or wrong file); discarded"
        exit 1
    fi
    mv "$tmp" "$dest"
    tmp=""
    say "saved $dest"
done

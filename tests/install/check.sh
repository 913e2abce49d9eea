#!/bin/sh
# Installs unic into a temporary prefix, builds the SDK's two example
# plugins (plugins/kl_uniform.c, plugins/mutual_knn.c) out of tree against
# it, once with pkg-config and once with CMake's find_package(unic), and
# has the installed unic list them and pass `unic gradcheck` on them.
# Each plugin must export nothing but its entry point.
#   tests/install/check.sh BUILD_DIR SOURCE_DIR
# Removes its temporary folder; exit status 0 when everything holds.
set -eu
build=$1
src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/unic-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() {
    echo "FAILED: $*" >&2
    exit 1
}
# Runs a command quietly; on failure shows its output and stops.
quiet() {
    what=$1
    shift
    "$@" >"$tmp/out.log" 2>&1 || { cat "$tmp/out.log" >&2; fail "$what: $*"; }
}
# The installed unic on its own: no build-tree or user plugin folders.
installed_unic() { env -u UNIC_BUILTIN_PLUGIN_DIR -u UNIC_PLUGIN_PATH "$prefix/bin/unic" "$@"; }

echo "== cmake --install $build --prefix $prefix"
quiet "install" cmake --install "$build" --prefix "$prefix"
for f in bin/unic include/unic/plugin.h include/unic/tensor.h include/unic/rng.h; do
    [ -e "$prefix/$f" ] || fail "$prefix/$f was not installed"
done
pc=$(find "$prefix" -name unic.pc)
[ -n "$pc" ] || fail "no unic.pc under $prefix"
config=$(find "$prefix" -name unicConfig.cmake)
[ -n "$config" ] || fail "no unicConfig.cmake under $prefix"

echo "== the installed unic finds its own plugins"
plugindir=$(find "$prefix" -type d -path '*/unic/plugins')
[ -f "$plugindir/losses_entropy.so" ] || fail "no built-in plugins in $plugindir"
real_plugindir=$(cd "$plugindir" && pwd -P)
installed_unic plugins >"$tmp/plugins.txt" 2>&1 || { cat "$tmp/plugins.txt"; fail "unic plugins"; }
grep -qF "($real_plugindir/losses_entropy.so" "$tmp/plugins.txt" ||
    fail "installed unic did not load $real_plugindir/losses_entropy.so:
$(cat "$tmp/plugins.txt")"

echo "== pkg-config: cc \$(pkg-config --cflags unic) -Wall -Wextra -Werror"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
command -v pkg-config >/dev/null || fail "pkg-config is not installed (tools/bootstrap installs it)"
cflags=$(pkg-config --cflags unic)
pc_plugindir=$(pkg-config --variable=plugindir unic)
[ "$(cd "$pc_plugindir" && pwd -P)" = "$real_plugindir" ] ||
    fail "pkg-config's plugindir $pc_plugindir is not $real_plugindir"
mkdir "$tmp/pc"
for name in kl_uniform mutual_knn; do
    # shellcheck disable=SC2086 # cflags holds several words
    quiet "pkg-config build of $name" cc $cflags -Wall -Wextra -Werror -O2 -shared -fPIC \
        "$src/plugins/$name.c" -o "$tmp/pc/$name.so" -lm
done

echo "== cmake: find_package(unic) and unic_add_plugin"
quiet "configure tests/install" cmake -S "$src/tests/install" -B "$tmp/cmake" \
    -DCMAKE_PREFIX_PATH="$prefix" -DUNIC_EXAMPLES="$src/plugins"
quiet "build tests/install" cmake --build "$tmp/cmake"
package_plugindir=$(sed -n 1p "$tmp/cmake/unic_package.txt")
[ "$(cd "$package_plugindir" && pwd -P)" = "$real_plugindir" ] ||
    fail "find_package(unic)'s unic_PLUGIN_DIR $package_plugindir is not $real_plugindir"

for dir in "$tmp/pc" "$tmp/cmake/plugins"; do
    echo "== $dir: exports, unic plugins, unic gradcheck"
    for name in kl_uniform mutual_knn; do
        so=$dir/$name.so
        exports=$(nm -D --defined-only "$so" | awk '{print $3}' | tr '\n' ' ')
        [ "$exports" = "unic_plugin_init " ] ||
            fail "$so exports '$exports', expected only unic_plugin_init"
        installed_unic gradcheck "$so" >"$tmp/check.txt" 2>&1 ||
            { cat "$tmp/check.txt"; fail "unic gradcheck $so"; }
        grep -q "^PASS  .* $name: " "$tmp/check.txt" || fail "no check ran on $so"
        cat "$tmp/check.txt"
    done
    env -u UNIC_BUILTIN_PLUGIN_DIR UNIC_PLUGIN_PATH="$dir" "$prefix/bin/unic" plugins \
        >"$tmp/plugins.txt" 2>&1 ||
        { cat "$tmp/plugins.txt"; fail "UNIC_PLUGIN_PATH=$dir unic plugins"; }
    for name in kl_uniform mutual_knn; do
        grep -q "^  $name: " "$tmp/plugins.txt" || fail "unic plugins does not list $name from $dir"
    done
done
echo "OK"

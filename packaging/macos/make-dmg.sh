#!/usr/bin/env bash
# Wrap dist/Hearth.app (PyInstaller, packaging/hearth.spec) into a drag-to-install disk image:
#
#   packaging/macos/make-dmg.sh [dist/Hearth.app] [dist]   ->  dist/Hearth-VERSION-macos-arm64.dmg
#
# Only macOS's own tools (hdiutil, codesign, PlistBuddy): a compressed (UDZO) image holding the app and
# a link to /Applications. Signing: with HEARTH_CODESIGN_IDENTITY set ("Developer ID Application: …")
# the app is signed with the hardened runtime and the image is signed too; notarize the result with
# `xcrun notarytool submit … --wait` and `xcrun stapler staple`. Without it the app keeps PyInstaller's
# ad-hoc signature (required on Apple silicon), and users open it the first time with right-click > Open.
set -euo pipefail
app=${1:-dist/Hearth.app}
out=${2:-dist}
test -d "$app" || { echo "missing $app: build it with pyinstaller packaging/hearth.spec" >&2; exit 1; }
version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$app/Contents/Info.plist")
arch=$(uname -m)
dmg="$out/Hearth-$version-macos-$arch.dmg"

if [ -n "${HEARTH_CODESIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp --sign "$HEARTH_CODESIGN_IDENTITY" "$app"
fi
if [ -n "${HEARTH_CODESIGN_IDENTITY:-}" ]; then
  codesign --verify --deep --strict "$app"
else
  codesign --verify --deep --strict "$app" || echo "warning: $app has no valid (ad-hoc) signature" >&2
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
ditto "$app" "$staging/Hearth.app"   # ditto keeps symlinks, extended attributes and signatures
ln -s /Applications "$staging/Applications"
rm -f "$dmg"
hdiutil create -volname "Hearth $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
if [ -n "${HEARTH_CODESIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$HEARTH_CODESIGN_IDENTITY" "$dmg"
fi
hdiutil verify "$dmg"
echo "built $dmg ($(du -h "$dmg" | cut -f1))"

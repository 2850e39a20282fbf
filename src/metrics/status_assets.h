// The status page's static files (HTML, the bundled JavaScript with uPlot, CSS), embedded in
// the binary at build time: web/status/ is bundled by esbuild (from npm, pinned by
// web/status/package-lock.json) and cmake/EmbedAssets.cmake turns the bundle into a C++ source
// in the build directory. Built with -DARBALEST_STATUS_PAGE=OFF (no npm) the only asset is a
// page that says so; /api/status is served either way.
#pragma once

#include <span>
#include <string_view>

namespace arbalest {

struct StaticAsset {
  std::string_view path;  // URL path: "/", "/status.js", ...
  std::string_view content_type;
  std::string_view body;
};

std::span<const StaticAsset> StatusPageAssets();

}  // namespace arbalest

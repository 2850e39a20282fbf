// The status page's assets in a build without it (-DARBALEST_STATUS_PAGE=OFF: no npm at build
// time); the bundled page comes from cmake/EmbedAssets.cmake otherwise.
#include "metrics/status_assets.h"

namespace arbalest {
namespace {

constexpr StaticAsset kAssets[] = {
    {"/", "text/html; charset=utf-8",
     "<!doctype html><html><title>Arbalest</title><p>This server was built without its status page "
     "(ARBALEST_STATUS_PAGE=OFF). Its figures are at <a href=\"/api/status\">/api/status</a>, "
     "its metrics at <a href=\"/metrics\">/metrics</a>.\n"},
};

}  // namespace

std::span<const StaticAsset> StatusPageAssets() { return kAssets; }

}  // namespace arbalest

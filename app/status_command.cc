#include "status_command.h"

#include "command_line.h"
#include "evax/admin/admin_server.h"
#include "evax/config/node_config.h"
#include "evax/storage/storage_backend.h"
#include "node_settings.h"

namespace evax::app {

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_command_line(args, {"--config", "--job", "--limit"}, {});
  auto limit = parsed ? parsed->integer("--limit", 20) : std::expected<int, std::string>(0);
  auto job_id = parsed ? parsed->integer("--job", 0) : std::expected<int, std::string>(0);
  if (!parsed || !parsed->has("--config") || !limit || !job_id) {
    err << "evax-node status: " << (!parsed ? parsed.error() : !limit ? limit.error() : !job_id ? job_id.error() : "--config FILE is required")
        << "\nusage: " << kStatusUsage << "\n";
    return 2;
  }
  auto config = config::load_config_file(parsed->values.at("--config"));
  if (!config) {
    for (const auto& e : config.error()) err << "evax-node status: config: " << config::describe(e) << "\n";
    return 2;
  }
  try {
    const storage::FileStore files = node_files(*config);
    const auto storage_backend = storage::make_storage_backend(backend_settings(*config), files);
    if (*job_id > 0 && !storage_backend->open_read_model()->job(*job_id)) {
      err << "evax-node status: no job " << *job_id << "\n";
      return 1;
    }
    const std::vector<std::int64_t> ids = *job_id > 0 ? std::vector<std::int64_t>{*job_id} : admin::recent_job_ids(*storage_backend, *limit);
    out << admin::status_report_json(*storage_backend, ids, config->cluster.lease_s, node_id(*config)) << "\n";
    return 0;
  } catch (const std::exception& e) {
    err << "evax-node status: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace evax::app

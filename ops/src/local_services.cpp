#include "provbridge/ops/local_services.hpp"

#include <csignal>
#include <stdexcept>

namespace provbridge::ops {

LocalRedis::LocalRedis(const std::string& binary) : binary_(binary), dir_("provbridge-redis-") {
    port_ = pick_free_port();
    start();
}

void LocalRedis::kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    // A killed process exits at once; the bound only keeps a wedged kernel from hanging us.
    process_->wait(std::chrono::seconds(30));
}

void LocalRedis::restart() {
    kill();
    process_.reset();
    start();
}

void LocalRedis::start() {
    ChildProcess::Options options;
    options.argv = {binary_,        "--port",        std::to_string(port_), "--bind",
                    "127.0.0.1",    "--dir",         dir_.path(),           "--save",
                    "",             "--appendonly",  "yes",                 "--protected-mode",
                    "no",           "--daemonize",   "no",                  "--logfile",
                    "",             "--loglevel",    "notice"};
    process_ = std::make_unique<ChildProcess>(std::move(options));
    if (!process_->wait_for_line("Ready to accept connections", std::chrono::seconds(20))) {
        throw std::runtime_error("redis-server did not become ready on port " + std::to_string(port_));
    }
}

LocalScimTarget::LocalScimTarget(const std::string& script, const std::string& token,
                                 const std::string& behave_like, const std::string& node) {
    ChildProcess::Options options;
    options.argv = {node, script, "--port", "0"};
    if (behave_like != "generic") options.argv.insert(options.argv.end(), {"--behave-like", behave_like});
    options.extra_env = {"SCIM_TARGET_TOKEN=" + token};
    process_ = std::make_unique<ChildProcess>(std::move(options));
    const std::string marker = "SCIM target listening on ";
    const auto line = process_->wait_for_line(marker, std::chrono::seconds(30));
    if (!line) {
        throw std::runtime_error("the SCIM target (" + script +
                                 ") did not start; run `npm ci` in tests/scim-target");
    }
    base_url_ = line->substr(line->find(marker) + marker.size());
}

std::string LocalScimTarget::root_url() const {
    const auto scim = base_url_.find("/scim/v2");
    return scim == std::string::npos ? base_url_ : base_url_.substr(0, scim);
}

std::string default_scim_target_script() {
    return std::string(PROVBRIDGE_SOURCE_DIR) + "/tests/scim-target/server.js";
}

}  // namespace provbridge::ops

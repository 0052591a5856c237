#include "provbridge/ops/local_services.hpp"

#include <sys/wait.h>

#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
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

namespace {

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace

LocalSlapd::LocalSlapd(Options options) : options_(std::move(options)), dir_("provbridge-slapd-") {
    std::filesystem::create_directories(dir_.path() + "/db");
    std::string conf;
    for (const char* schema : {"core", "cosine", "inetorgperson", "nis"}) {
        conf += std::string("include /etc/ldap/schema/") + schema + ".schema\n";
    }
    conf += "modulepath /usr/lib/ldap\nmoduleload back_mdb\n";
    if (options_.syncprov) conf += "moduleload syncprov\n";
    if (options_.refint) conf += "moduleload refint\n";
    conf += "pidfile " + dir_.path() + "/slapd.pid\nargsfile " + dir_.path() + "/slapd.args\n";
    if (!options_.tls_certificate.empty()) {
        conf += "TLSCertificateFile " + options_.tls_certificate + "\nTLSCertificateKeyFile " + options_.tls_key + "\n";
    }
    // Tests read more entries than the default limit of 500 as a bind DN other than the admin.
    conf += "sizelimit unlimited\n";
    conf += "database mdb\nmaxsize 1073741824\n";
    conf += "suffix \"" + options_.suffix + "\"\nrootdn \"" + admin_dn() + "\"\nrootpw " + options_.admin_password + "\n";
    conf += "directory " + dir_.path() + "/db\n";
    // A throwaway database: a crash of the process loses nothing, only an OS crash would.
    conf += "dbnosync\nindex objectClass eq\nindex entryUUID,entryCSN eq\n";
    conf += "access to * by * read\n";
    if (options_.syncprov) {
        conf += "overlay syncprov\nsyncprov-checkpoint " + options_.checkpoint + "\n";
        if (options_.sessionlog > 0) conf += "syncprov-sessionlog " + std::to_string(options_.sessionlog) + "\n";
    }
    // groupOfNames needs a member: a group whose last member goes keeps the admin DN as one.
    if (options_.refint) conf += "overlay refint\nrefint_attributes member manager\nrefint_nothing \"" + admin_dn() + "\"\n";
    write_file(dir_.path() + "/slapd.conf", conf);
    write_file(password_file(), options_.admin_password);
    std::filesystem::permissions(password_file(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    port_ = pick_free_port();
    if (!options_.tls_certificate.empty()) ldaps_port_ = pick_free_port();
    start();
    // The suffix entry itself, so that the caller's first LDIF can add below it.
    const auto first = options_.suffix.substr(0, options_.suffix.find(','));
    const auto dc = first.substr(first.find('=') + 1);
    auto base = apply("dn: " + options_.suffix + "\nobjectClass: dcObject\nobjectClass: organization\ndc: " + dc +
                      "\no: " + dc + "\n");
    if (!base.ok()) throw std::runtime_error("slapd started, but the base entry was refused: " + base.error().message);
}

LocalSlapd::~LocalSlapd() = default;

void LocalSlapd::start() {
    ChildProcess::Options options;
    // -d keeps slapd in the foreground. "slapd starting" comes before listen(); the connection
    // level (8) says when the listener joins the event loop, after listen(): ready then.
    const bool tls = !options_.tls_certificate.empty();
    const std::string listeners = url() + "/" + (tls ? " " + ldaps_url() + "/" : std::string());
    options.argv = {"slapd", "-h", listeners, "-f", dir_.path() + "/slapd.conf", "-d", std::to_string(256 + 8)};
    options.merge_stderr = true;
    process_ = std::make_unique<ChildProcess>(std::move(options));
    std::deque<std::string> said;
    int listening = 0;
    while (auto line = process_->read_line(std::chrono::seconds(20))) {
        if (line->find("daemon: added") != std::string::npos && line->find("listener=0x") != std::string::npos &&
            ++listening == (tls ? 2 : 1)) {
            return;
        }
        said.push_back(*line);
        if (said.size() > 20) said.pop_front();
    }
    std::string text;
    for (const auto& l : said) text += "\n  " + l;
    throw std::runtime_error("slapd did not start on port " + std::to_string(port_) + ":" + text);
}

Result<bool> LocalSlapd::apply(const std::string& ldif) {
    const auto file = dir_.path() + "/change-" + std::to_string(applied_++) + ".ldif";
    write_file(file, ldif);
    ChildProcess::Options options;
    options.argv = {"ldapmodify", "-x", "-a", "-H", url(), "-D", admin_dn(), "-y", password_file(), "-f", file};
    options.merge_stderr = true;
    ChildProcess tool(std::move(options));
    std::string output;
    while (auto line = tool.read_line(std::chrono::seconds(120))) output += *line + "\n";
    const auto status = tool.wait(std::chrono::seconds(30));
    std::filesystem::remove(file);
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        return make_error("ldapmodify failed: " + output, ErrorKind::Permanent);
    }
    return true;
}

void LocalSlapd::kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(30));
}

void LocalSlapd::restart() {
    kill();
    process_.reset();
    start();
}

std::string default_scim_target_script() {
    return std::string(PROVBRIDGE_SOURCE_DIR) + "/tests/scim-target/server.js";
}

}  // namespace provbridge::ops

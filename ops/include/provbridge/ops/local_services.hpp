#pragma once

#include <memory>
#include <string>

#include "provbridge/core/result.hpp"
#include "provbridge/ops/process.hpp"

namespace provbridge::ops {

// A throwaway redis-server on a free loopback port with its own directory, for the demo and
// the integration tests. Stopped and removed by the destructor.
class LocalRedis {
public:
    // Throws std::runtime_error when redis-server cannot be started.
    explicit LocalRedis(const std::string& binary = "redis-server");
    int port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
    ChildProcess& process() { return *process_; }

    // Kills the server with SIGKILL, as a crash would (no shutdown save), and reaps it. The
    // directory and its append-only file stay for restart().
    void kill();
    // Starts redis-server again on the same port and directory, so it reloads what the
    // append-only file holds. Replaces process(): references to the old one dangle. Throws
    // std::runtime_error like the constructor.
    void restart();

private:
    void start();

    std::string binary_;
    TempDir dir_;
    int port_ = 0;
    std::unique_ptr<ChildProcess> process_;
};

// The SCIM test target from tests/scim-target (SCIMMY + scimmy-routers, in-memory store) run
// with node on an ephemeral port.
class LocalScimTarget {
public:
    // script: path to tests/scim-target/server.js; behave_like: generic, leapsome, elium or
    // genesys (the target enforces what that app's documentation says). Throws
    // std::runtime_error on failure.
    LocalScimTarget(const std::string& script, const std::string& token, const std::string& behave_like = "generic",
                    const std::string& node = "node");
    const std::string& base_url() const { return base_url_; }   // http://127.0.0.1:P/scim/v2
    std::string root_url() const;                               // http://127.0.0.1:P
    ChildProcess& process() { return *process_; }

private:
    std::string base_url_;
    std::unique_ptr<ChildProcess> process_;
};

// A throwaway OpenLDAP slapd (Debian's) on a free loopback port with its own mdb database under
// `suffix`, the core/cosine/inetorgperson/nis schemas and, unless switched off, the syncprov
// overlay that RFC 4533 sync needs and the refint overlay most directories run (a rename or a
// delete rewrites the member and manager values naming the entry). For the demo and the
// integration tests; stopped and removed by the destructor.
class LocalSlapd {
public:
    struct Options {
        std::string suffix = "dc=example,dc=org";
        bool syncprov = true;
        // syncprov's session log (syncprov-sessionlog: operations kept in memory), 0 for none.
        // With one, a consumer resuming from a recent cookie gets the changes and the deleted
        // entries (refreshDeletes); without, every entry it holds is named present (present
        // phase). Production directories usually keep one; both paths need testing.
        int sessionlog = 0;
        // syncprov-checkpoint: write the contextCSN every `ops` operations or `minutes`.
        std::string checkpoint = "100 10";
        bool refint = true;
        // PEM files: when set, slapd offers StartTLS on url() and listens on ldaps_url() too.
        std::string tls_certificate, tls_key;
        std::string admin_password = "local-slapd-admin";
    };
    // Throws std::runtime_error when slapd cannot be started (with what it printed).
    explicit LocalSlapd(Options options);
    ~LocalSlapd();
    LocalSlapd(const LocalSlapd&) = delete;
    LocalSlapd& operator=(const LocalSlapd&) = delete;

    std::string url() const { return "ldap://127.0.0.1:" + std::to_string(port_); }
    // With Options::tls_certificate only.
    std::string ldaps_url() const { return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_); }
    const std::string& suffix() const { return options_.suffix; }
    std::string admin_dn() const { return "cn=admin," + options_.suffix; }
    const std::string& admin_password() const { return options_.admin_password; }
    // A file holding the admin password, for tools that take one (ldapmodify -y).
    std::string password_file() const { return dir_.path() + "/admin.pw"; }

    // Applies LDIF with ldapmodify as the admin (records without a changetype are adds).
    // Returns ldapmodify's output as the error when it fails.
    Result<bool> apply(const std::string& ldif);

    // SIGKILL, as a crash would; the database stays for restart() on the same port.
    void kill();
    void restart();

private:
    void start();

    Options options_;
    TempDir dir_;
    int port_ = 0;
    int ldaps_port_ = 0;
    int applied_ = 0;
    std::unique_ptr<ChildProcess> process_;
};

// Path of tests/scim-target/server.js in the source tree this binary was built from.
std::string default_scim_target_script();

}  // namespace provbridge::ops

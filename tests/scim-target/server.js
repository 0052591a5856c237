#!/usr/bin/env node
// provbridge SCIM 2.0 test target.
//
// A real SCIM server built on SCIMMY + scimmy-routers (Express 4) with a small
// in-memory store, plus a few handlers/middlewares in front of SCIMMY that work
// around known SCIMMY 1.3.5 / scimmy-routers 1.3.2 quirks (see README.md), and
// an /_admin API for tests (store dump, request log, counters, fault injection,
// latency, token rotation).
//
// Usage: node server.js [--port N] [--host 127.0.0.1] [--token T] [--strict-replace]
//                       [--behave-like generic|leapsome|elium|genesys]
//        (token also from env SCIM_TARGET_TOKEN, mode from SCIM_TARGET_BEHAVE_LIKE;
//         port 0 = ephemeral)
//
// Admin API (/_admin, always the start-up token, even after PUT /_admin/token;
// full description in README.md):
//   POST   /_admin/faults   {status, count, match, detail, scimType, retryAfter, delayMs,
//                            echoAuthorization, probability, seed, drop, body}
//          status     HTTP status to answer (100-599); not needed when drop is true
//          count      applications before the rule is removed (default 1; with
//                     probability < 1 and no count: until removed, listed as null)
//          probability 0 < p <= 1 (default 1): each matching request is hit when the
//                     rule's mulberry32 PRNG (seeded with `seed`, an integer; random
//                     and listed when not given) returns a value < p; a request
//                     that is not hit falls through to later rules / normal handling
//          drop       true: destroy the connection (req.socket.destroy()) instead of
//                     answering: the client sees an empty reply / connection reset
//          delayMs    wait before answering or dropping (adds to /_admin/latency)
//          body       a JSON object answered with `status` instead of an error body
//   GET    /_admin/faults, DELETE /_admin/faults
//   PUT    /_admin/latency  {delayMs: 0..600000}: delay every /scim/v2 request
//                            (before auth, faults and handling; 0 = off); GET reads it
//   PUT    /_admin/token    {token}: the bearer token /scim/v2 accepts from now on (the
//                            old one gets 401); DELETE restores the start-up token;
//                            GET answers only {rotated: true|false}
//   GET    /_admin/stats    {requests, byRoute, byStatus, users, groups, delayed,
//                            faults: {applied, answered, dropped, skipped}}
//   POST   /_admin/reset    store, counters, log, faults, latency and token back to start-up

import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID, timingSafeEqual} from "node:crypto";
import {performance} from "node:perf_hooks";

const BASE = "/scim/v2";
const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCIM_CT = "application/scim+json; charset=utf-8";
const DEFAULT_COUNT = 100;     // page size when the client gives no count
const MAX_COUNT = 1000;        // filter.maxResults advertised in ServiceProviderConfig
const LOG_CAPACITY = 1000;     // request ring buffer size

// --behave-like modes: enforce what Microsoft's Entra provisioning tutorial of
// each app says about it (see README.md). "generic" is the plain target.
const MODES = {
    generic: {
        app: null,
        tenantUrl: null,
        rules: ["No app-specific rules: the plain SCIM target."],
    },
    leapsome: {
        app: "Leapsome",
        tenantUrl: "https://www.leapsome.com/api/scim",
        rules: [
            "userName is unique (case-insensitive): 409 uniqueness.",
            "Only work email addresses are saved: a POST/PUT/PATCH that would store an email whose type is not 'work' (or has no type) gets 400 invalidValue.",
            "Groups are supported.",
        ],
    },
    elium: {
        app: "Elium",
        tenantUrl: "<tenant>/scim/v2",
        rules: [
            "Users only: every /Groups request gets 404 'Groups are not supported'.",
            "/ResourceTypes and /Schemas do not list Group.",
        ],
    },
    genesys: {
        app: "Genesys Cloud",
        tenantUrl: "{API url}/api/v2/scim/v2",
        rules: [
            "Only userName can be filtered on: a GET /Users (or POST /Users/.search) filter on any other attribute gets 400 invalidFilter.",
            "No group creation or deletion: POST /Groups and DELETE /Groups/{id} get 405. Groups must already exist with the same displayName (seed them with POST /_admin/groups).",
            "GET /Groups?filter=displayName eq \"...\", PUT and PATCH (members add/remove) on existing groups work.",
            "Users attributes (Genesys table): userName, active, displayName, emails[type eq \"work\"].value, title, phoneNumbers[type eq \"mobile\"].value, phoneNumbers[type eq \"work\"].value, enterprise department, enterprise manager (reference {\"value\": \"<user id>\"}). Other attributes are not refused.",
        ],
    },
};
const COMMON_RULES = ["enterprise manager.value must be the id of an existing user: 400 invalidValue (all modes; checked only when the value changes)."];

// ---------------------------------------------------------------- CLI ----

function usage(code) {
    (code ? process.stderr : process.stdout).write(
        "usage: node server.js [--port N] [--host 127.0.0.1] [--token T] [--strict-replace]\n" +
        "                      [--behave-like generic|leapsome|elium|genesys]\n" +
        "       token may also be given in env SCIM_TARGET_TOKEN, the mode in SCIM_TARGET_BEHAVE_LIKE;\n" +
        "       port 0 (default) = ephemeral; mode generic (default) = no app-specific rules\n");
    process.exit(code);
}

function parseArgs(argv) {
    const opts = {port: 0, host: "127.0.0.1", token: process.env.SCIM_TARGET_TOKEN || "", strictReplace: false,
        behaveLike: process.env.SCIM_TARGET_BEHAVE_LIKE || "generic"};
    for (let i = 0; i < argv.length; i++) {
        let arg = argv[i], val;
        const eq = arg.indexOf("=");
        if (arg.startsWith("--") && eq > 0) { val = arg.slice(eq + 1); arg = arg.slice(0, eq); }
        const take = () => {
            if (val !== undefined) return val;
            if (i + 1 >= argv.length) { process.stderr.write(`scim-target: missing value for ${arg}\n`); usage(2); }
            return argv[++i];
        };
        switch (arg) {
            case "--port": case "-p": {
                const s = take(), p = Number(s);
                if (!/^\d+$/.test(s) || p > 65535) { process.stderr.write(`scim-target: invalid port '${s}'\n`); process.exit(2); }
                opts.port = p;
                break;
            }
            case "--host": opts.host = take(); break;
            case "--token": opts.token = take(); break;
            case "--strict-replace": opts.strictReplace = true; break;
            case "--behave-like": opts.behaveLike = take(); break;
            case "--help": case "-h": usage(0); break;
            default: process.stderr.write(`scim-target: unknown argument '${argv[i]}'\n`); usage(2);
        }
    }
    opts.behaveLike = opts.behaveLike.trim().toLowerCase();
    if (!Object.hasOwn(MODES, opts.behaveLike)) {
        process.stderr.write(`scim-target: unknown --behave-like mode '${opts.behaveLike}' (expected one of: ${Object.keys(MODES).join(", ")})\n`);
        process.exit(2);
    }
    return opts;
}

const opts = parseArgs(process.argv.slice(2));
const MODE = opts.behaveLike;
if (!opts.token) {
    process.stderr.write("scim-target: refusing to start without a bearer token: pass --token T or set SCIM_TARGET_TOKEN\n");
    process.exit(2);
}

// ------------------------------------------------------------ helpers ----

// Case folding used for caseExact:false comparisons and uniqueness keys.
const fold = (s) => String(s).toLowerCase();

function scimErrorBody(status, detail, scimType) {
    const body = {schemas: [ERROR_SCHEMA], status: String(status)};
    if (scimType) body.scimType = scimType;
    if (detail) body.detail = detail;
    return body;
}

function sendScim(res, status, body, headers) {
    res.statusCode = status;
    res.setHeader("Content-Type", SCIM_CT);
    if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.end(body === undefined ? undefined : JSON.stringify(body));
}

// Written by hand (not SCIMMY.Messages.Error) so any status works, e.g. 429/503.
function sendScimError(res, status, detail, scimType, headers) {
    sendScim(res, status, scimErrorBody(status, detail, scimType), headers);
}

function sendJson(res, status, body) {
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.end(JSON.stringify(body));
}

// Structural equality of JSON-ish values (object key order ignored).
function deepEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Array.isArray(a)) {
        if (!Array.isArray(b) || a.length !== b.length) return false;
        for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
        return true;
    }
    if (Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
    return true;
}

function sameContent(rec, data) {
    // compare everything except id/meta
    const ka = Object.keys(rec).filter(k => k !== "id" && k !== "meta");
    const kb = Object.keys(data).filter(k => k !== "id" && k !== "meta");
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!Object.prototype.hasOwnProperty.call(data, k) || !deepEqual(rec[k], data[k])) return false;
    return true;
}

// ------------------------------------------------------------- store ----

class Store {
    constructor(resourceType, uniqueAttr) {
        this.resourceType = resourceType;
        this.uniqueAttr = uniqueAttr;
        this.validate = null;           // optional (data, cur|undefined) => void; throws SCIMMY.Types.Error
        this.clear();
    }

    clear() {
        this.byId = new Map();          // id -> record (plain JSON object)
        this.byUnique = new Map();      // fold(uniqueAttr) -> id
        this.byExternalId = new Map();  // externalId (caseExact) -> Set<id>
    }

    get size() { return this.byId.size; }
    get(id) { return this.byId.get(id); }
    list() { return Array.from(this.byId.values()); }

    #indexExternal(id, oldExt, newExt) {
        if (oldExt === newExt) return;
        if (oldExt !== undefined) {
            const s = this.byExternalId.get(oldExt);
            if (s) { s.delete(id); if (!s.size) this.byExternalId.delete(oldExt); }
        }
        if (newExt !== undefined) {
            let s = this.byExternalId.get(newExt);
            if (!s) this.byExternalId.set(newExt, s = new Set());
            s.add(id);
        }
    }

    #conflict(value) {
        return new SCIMMY.Types.Error(409, "uniqueness",
            `${this.resourceType} with ${this.uniqueAttr} '${value}' already exists`);
    }

    // SCIMMY ingress: create (id undefined) or replace (PUT, PATCH write-back).
    write(id, instance) {
        // The SCIMMY schema instance has already been validated/coerced ("in" direction).
        const data = JSON.parse(JSON.stringify(instance));
        delete data.id;
        delete data.meta;
        const uval = data[this.uniqueAttr];
        const ukey = uval === undefined ? undefined : fold(uval);
        const holder = ukey === undefined ? undefined : this.byUnique.get(ukey);
        const now = new Date().toISOString();

        if (id === undefined) {
            if (this.validate) this.validate(data, undefined);
            if (holder !== undefined) throw this.#conflict(uval);
            const newId = randomUUID();
            const rec = {...data, id: newId, meta: {resourceType: this.resourceType, created: now, lastModified: now, version: 'W/"1"'}};
            this.byId.set(newId, rec);
            if (ukey !== undefined) this.byUnique.set(ukey, newId);
            this.#indexExternal(newId, undefined, rec.externalId);
            return rec;
        }

        const cur = this.byId.get(id);
        if (!cur) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
        if (this.validate) this.validate(data, cur);
        if (holder !== undefined && holder !== id) throw this.#conflict(uval);
        // Write-only attributes (password) are never returned, so a PATCH
        // write-back would silently drop them: keep the stored value.
        if (data.password === undefined && cur.password !== undefined) data.password = cur.password;
        // PATCH reads the resource and writes it back whole: don't bump
        // meta.version / lastModified when nothing changed.
        if (sameContent(cur, data)) return cur;

        const rev = (parseInt(String(cur.meta.version).replace(/^W\/"/, ""), 10) || 1) + 1;
        const rec = {...data, id, meta: {resourceType: this.resourceType, created: cur.meta.created, lastModified: now, version: `W/"${rev}"`}};
        const oldKey = cur[this.uniqueAttr] === undefined ? undefined : fold(cur[this.uniqueAttr]);
        if (oldKey !== ukey) {
            if (oldKey !== undefined && this.byUnique.get(oldKey) === id) this.byUnique.delete(oldKey);
            if (ukey !== undefined) this.byUnique.set(ukey, id);
        }
        this.#indexExternal(id, cur.externalId, rec.externalId);
        this.byId.set(id, rec);
        return rec;
    }

    remove(id) {
        const cur = this.byId.get(id);
        if (!cur) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
        this.byId.delete(id);
        const ukey = cur[this.uniqueAttr] === undefined ? undefined : fold(cur[this.uniqueAttr]);
        if (ukey !== undefined && this.byUnique.get(ukey) === id) this.byUnique.delete(ukey);
        this.#indexExternal(id, cur.externalId, undefined);
    }

    // SCIMMY egress (only reached for requests our fast paths don't answer).
    egress(resource) {
        if (resource.id !== undefined) {
            const rec = this.byId.get(resource.id);
            if (!rec) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            return rec;
        }
        const all = this.list();
        const matched = resource.filter ? resource.filter.match(all) : all;
        // Quirk: SCIMMY's ListResponse returns the first page again when
        // startIndex is past the end. A sparse array of the right length
        // gives totalResults=N with no Resources.
        const start = resource.constraints?.startIndex;
        if (start !== undefined && start > matched.length) return new Array(matched.length);
        return matched;
    }
}

const users = new Store("User", "userName");
const groups = new Store("Group", "displayName");

// Remove a deleted user from every group that lists it.
function dropMemberships(userId) {
    for (const g of groups.list()) {
        if (Array.isArray(g.members) && g.members.some(m => m && m.value === userId)) {
            const data = {...g, members: g.members.filter(m => !(m && m.value === userId))};
            if (!data.members.length) delete data.members;
            groups.write(g.id, data);
        }
    }
}

// Checks on the user about to be stored (POST, PUT and the PATCH write-back).
// `data` is already validated and coerced by SCIMMY; `cur` is the stored record
// (undefined on create).
users.validate = (data, cur) => {
    // Every mode: enterprise manager is a reference to an existing user. Only
    // checked when the value changes, so a PATCH write-back of a user whose
    // manager has since been deleted still works.
    const mgr = data[ENTERPRISE]?.manager?.value;
    if (mgr !== undefined && mgr !== cur?.[ENTERPRISE]?.manager?.value && !users.get(mgr))
        throw new SCIMMY.Types.Error(400, "invalidValue",
            `Enterprise attribute 'manager' references user '${mgr}', which does not exist`);
    // Leapsome: "Leapsome only allows work email addresses to be saved".
    if (MODE === "leapsome" && Array.isArray(data.emails)) {
        const badEmail = data.emails.find(e => !e || e.type !== "work");
        if (badEmail) throw new SCIMMY.Types.Error(400, "invalidValue",
            "Only work email addresses are accepted (Leapsome only allows work email addresses to be saved): " +
            (badEmail?.type === undefined ? "an email has no type" : `an email has type '${badEmail.type}'`));
    }
};

// --------------------------------------------------------- SCIMMY ----

SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    extensions: [{schema: SCIMMY.Schemas.EnterpriseUser, required: false}],
    ingress: (resource, instance) => users.write(resource.id, instance),
    egress: (resource) => users.egress(resource),
    degress: (resource) => { users.remove(resource.id); dropMemberships(resource.id); },
});
// Elium is users-only: leaving Group undeclared keeps it out of /ResourceTypes,
// /Schemas and POST /.search (the /Groups endpoints are refused in front of SCIMMY).
if (MODE !== "elium") SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    ingress: (resource, instance) => groups.write(resource.id, instance),
    egress: (resource) => groups.egress(resource),
    degress: (resource) => groups.remove(resource.id),
});

const RESOURCES = {
    Users: {Resource: SCIMMY.Resources.User, Schema: SCIMMY.Schemas.User, store: users},
    Groups: {Resource: SCIMMY.Resources.Group, Schema: SCIMMY.Schemas.Group, store: groups},
};
const RESOURCE_BY_LC = {users: "Users", groups: "Groups"};

let ORIGIN = "";   // http://host:port, known once listening

const scimmyRouter = new SCIMMYRouters({
    type: "bearer",
    handler: () => "",          // authentication is done by our own middleware first
    baseUri: () => ORIGIN,
});
// scimmy-routers sets patch/filter/sort/bulk=true; we do not support bulk.
SCIMMY.Config.set({
    patch: true,
    filter: {supported: true, maxResults: MAX_COUNT},
    sort: true,
    bulk: false,
    changePassword: false,
    etag: false,
});

// ----------------------------------------------------- filter fast path ----
//
// SCIMMY 1.3.5's filter parser does not understand JSON string escapes (\" -> 400,
// \\ kept doubled) and compares strings case-sensitively even for caseExact:false
// attributes. We evaluate the common RFC 7644 forms ourselves:
//     <attrPath> <op> <value> [and <attrPath> <op> <value> ...]
// op: eq ne co sw ew pr; value: JSON string, true, false, null or number;
// attrPath: [schemaURN:]attr[.sub] | attr[<subAttr> <op> <value> [and ...]][.sub]
// Anything else (or, not, parentheses, gt/lt, unknown attributes) returns null
// and the request falls through to SCIMMY.

const OPS = new Set(["eq", "ne", "co", "sw", "ew", "pr"]);
const ALL_OPS = new Set(["eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le"]);

class FilterSyntaxError extends Error {}

// Scan a JSON string literal starting at s[i] === '"'; returns [value, nextIndex] or null.
function scanJsonString(s, i) {
    let j = i + 1;
    while (j < s.length) {
        const c = s.charCodeAt(j);
        if (c === 92 /* \ */) { j += 2; continue; }
        if (c === 34 /* " */) {
            try { return [JSON.parse(s.slice(i, j + 1)), j + 1]; } catch { return null; }
        }
        j++;
    }
    return null;
}

// Tokenise "expr and expr ..." into [{path, op, value}], or null if not in our subset.
function parseSimpleFilter(s) {
    const terms = [];
    let i = 0;
    const n = s.length;
    const ws = () => { while (i < n && (s[i] === " " || s[i] === "\t")) i++; };
    for (;;) {
        ws();
        // attribute path (may contain [...] with quoted strings and spaces)
        const start = i;
        while (i < n && s[i] !== " " && s[i] !== "\t") {
            if (s[i] === "(" || s[i] === ")" || s[i] === '"') return null;
            if (s[i] === "[") {
                let depth = 1;
                i++;
                while (i < n && depth) {
                    if (s[i] === '"') { const r = scanJsonString(s, i); if (!r) return null; i = r[1]; continue; }
                    if (s[i] === "[") depth++;
                    else if (s[i] === "]") depth--;
                    i++;
                }
                if (depth) return null;
                continue;
            }
            i++;
        }
        const path = s.slice(start, i);
        if (!path) return null;
        ws();
        const opStart = i;
        while (i < n && /[a-zA-Z]/.test(s[i])) i++;
        const op = s.slice(opStart, i).toLowerCase();
        if (!ALL_OPS.has(op)) {
            if (!op && i >= n) throw new FilterSyntaxError(`Missing operator after '${path}'`);
            return null;
        }
        let value;
        if (op !== "pr") {
            ws();
            if (i >= n) throw new FilterSyntaxError(`Missing comparison value after '${path} ${op}'`);
            if (s[i] === '"') {
                const r = scanJsonString(s, i);
                if (!r) throw new FilterSyntaxError(`Invalid string literal in filter at position ${i}`);
                [value, i] = r;
            } else {
                const m = /^(true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?=$|[\s\]])/i.exec(s.slice(i));
                if (!m) return null;
                value = JSON.parse(m[1].toLowerCase());
                i += m[1].length;
            }
        }
        if (!OPS.has(op)) return null;   // gt/ge/lt/le: let SCIMMY do it
        terms.push({path, op, value});
        ws();
        if (i >= n) return terms;
        const m = /^and(?=\s)/i.exec(s.slice(i));
        if (!m) return null;
        i += 3;
    }
}

function findAttr(attributes, name) {
    const lc = name.toLowerCase();
    return attributes.find(a => !(a instanceof SCIMMY.Types.SchemaDefinition) && a.name.toLowerCase() === lc);
}

function compareTerm(op, actual, expected, caseExact) {
    if (op === "pr") return actual !== undefined && actual !== null && actual !== "" && !(Array.isArray(actual) && !actual.length);
    if (typeof actual === "string" && typeof expected === "string") {
        const a = caseExact ? actual : fold(actual), e = caseExact ? expected : fold(expected);
        switch (op) {
            case "eq": return a === e;
            case "ne": return a !== e;
            case "co": return a.includes(e);
            case "sw": return a.startsWith(e);
            case "ew": return a.endsWith(e);
        }
    }
    switch (op) {
        case "eq": return actual === expected;
        case "ne": return actual !== expected;
        default: return false;
    }
}

// Compile terms into a predicate over plain records, resolving attribute names
// case-insensitively against the SCIMMY schema definition. Returns null if unsupported.
function compileTerms(terms, attributes, definition) {
    const preds = [];
    for (const t of terms) {
        const p = compilePath(t.path, attributes, definition);
        if (!p) return null;
        const {get, leaf} = p;
        const caseExact = !!leaf.config.caseExact;
        const {op, value} = t;
        if (op !== "pr" && (value === null || typeof value === "object")) return null;
        if (["co", "sw", "ew"].includes(op) && typeof value !== "string") return null;
        if (op === "ne") preds.push(rec => !get(rec).some(v => compareTerm("eq", v, value, caseExact)));
        else if (op === "pr") preds.push(rec => get(rec).some(v => compareTerm("pr", v)));
        else preds.push(rec => get(rec).some(v => compareTerm(op, v, value, caseExact)));
        t.compiled = p;
    }
    return preds.length === 1 ? preds[0] : (rec => preds.every(f => f(rec)));
}

function compilePath(raw, attributes, definition) {
    let rest = raw, container;
    if (definition && /^urn:/i.test(rest)) {
        const lc = rest.toLowerCase();
        if (lc.startsWith(definition.id.toLowerCase() + ":")) {
            rest = rest.slice(definition.id.length + 1);
        } else {
            const ext = definition.attributes.find(a => a instanceof SCIMMY.Types.SchemaDefinition && lc.startsWith(a.id.toLowerCase() + ":"));
            if (!ext) return null;
            rest = rest.slice(ext.id.length + 1);
            container = ext.id;
            attributes = ext.attributes;
        }
    }
    const m = /^([A-Za-z$][\w$-]*)(?:\[(.*)\])?(?:\.([A-Za-z$][\w$-]*))?$/s.exec(rest);
    if (!m) return null;
    const [, name, bracket, subName] = m;
    const attr = findAttr(attributes, name);
    if (!attr) return null;
    let valueFilter = null, leaf = attr, sub;
    if (bracket !== undefined) {
        if (attr.type !== "complex" || !attr.config.multiValued) return null;
        const inner = parseSimpleFilter(bracket);
        if (!inner || inner.some(t => t.path.includes(".") || t.path.includes("[") || /^urn:/i.test(t.path))) return null;
        valueFilter = compileTerms(inner, attr.subAttributes, null);
        if (!valueFilter) return null;
    }
    if (subName !== undefined) {
        if (attr.type !== "complex") return null;
        sub = findAttr(attr.subAttributes, subName);
        if (!sub) return null;
        leaf = sub;
    } else if (attr.type === "complex") {
        // RFC 7644 §3.4.2.2: a complex multi-valued attribute without a sub-attribute compares its "value".
        if (!attr.config.multiValued) return null;
        sub = findAttr(attr.subAttributes, "value");
        if (!sub) return null;
        leaf = sub;
    }
    const key = attr.name, subKey = sub?.name;
    const get = (rec) => {
        const base = container ? rec[container] : rec;
        if (base === undefined || base === null) return [];
        const v = base[key];
        if (v === undefined || v === null) return [];
        let items = Array.isArray(v) ? v : [v];
        if (valueFilter) items = items.filter(it => it !== null && typeof it === "object" && valueFilter(it));
        if (subKey !== undefined) {
            const out = [];
            for (const it of items) if (it !== null && typeof it === "object" && it[subKey] !== undefined && it[subKey] !== null) out.push(it[subKey]);
            return out;
        }
        return items;
    };
    return {get, leaf, attr, container, key, subKey, valueFilter};
}

// Parse + compile a filter for a resource kind; null when outside our subset.
function compileFilter(kind, filter) {
    const terms = parseSimpleFilter(filter);
    if (!terms) return null;
    const def = RESOURCES[kind].Schema.definition;
    const pred = compileTerms(terms, def.attributes, def);
    return pred ? {pred, terms} : null;
}

// Candidate records for a compiled filter, using an index where possible.
function candidates(store, terms) {
    for (const t of terms) {
        const p = t.compiled;
        if (t.op !== "eq" || typeof t.value !== "string" || p.container || p.valueFilter || p.subKey !== undefined) continue;
        if (p.key === store.uniqueAttr) {
            const id = store.byUnique.get(fold(t.value));
            return id === undefined ? [] : [store.get(id)];
        }
        if (p.key === "externalId") {
            const ids = store.byExternalId.get(t.value);
            return ids ? Array.from(ids, id => store.get(id)) : [];
        }
        if (p.key === "id") {
            const r = store.get(t.value);
            return r ? [r] : [];
        }
    }
    return store.list();
}

// ---------------------------------------------------- stats / request log ----

const stats = {requests: 0, byRoute: Object.create(null), byStatus: Object.create(null),
    delayed: 0, faults: {applied: 0, answered: 0, dropped: 0, skipped: 0}};
let ring = new Array(LOG_CAPACITY);
let ringNext = 0, ringCount = 0;
let faults = [];
let latencyMs = 0;         // PUT /_admin/latency: delay before every /scim/v2 request

function resetStats() {
    stats.requests = 0;
    stats.byRoute = Object.create(null);
    stats.byStatus = Object.create(null);
    stats.delayed = 0;
    stats.faults = {applied: 0, answered: 0, dropped: 0, skipped: 0};
    ring = new Array(LOG_CAPACITY);
    ringNext = 0;
    ringCount = 0;
}

const KNOWN_TOP = {users: "Users", groups: "Groups", schemas: "Schemas", resourcetypes: "ResourceTypes",
    serviceproviderconfig: "ServiceProviderConfig", bulk: "Bulk", me: "Me", ".search": ".search"};

// "GET /Users", "GET /Users/{id}", "POST /Users/.search", "GET /Schemas/{id}", ...
function routeKeyOf(method, relPath) {
    const segs = relPath.split("/").filter(Boolean);
    if (!segs.length) return `${method} /`;
    const top = KNOWN_TOP[segs[0].toLowerCase()] ?? segs[0];
    let key = `${method} /${top}`;
    if (segs.length >= 2) key += segs[1] === ".search" ? "/.search" : "/{id}";
    if (segs.length > 2) key += "/" + segs.slice(2).join("/");
    return key;
}

function safeDecode(s) {
    try { return decodeURIComponent(s); } catch { return s; }
}

// ------------------------------------------------------------- express ----

const app = express();
app.disable("x-powered-by");
app.disable("etag");                 // ServiceProviderConfig says etag unsupported
app.set("query parser", "simple");   // node:querystring; values always strings (or arrays if repeated)

// /_admin always takes the start-up token; /scim/v2 takes the current one, which
// PUT /_admin/token replaces (so a test can rotate it and still restore it).
const startupAuth = Buffer.from("Bearer " + opts.token);
let scimAuth = startupAuth;
function authorised(req, expectedAuth = scimAuth) {
    const h = req.headers.authorization;
    if (typeof h !== "string") return false;
    const got = Buffer.from(h.length > 7 && /^bearer /i.test(h) ? "Bearer " + h.slice(7).trim() : h);
    return got.length === expectedAuth.length && timingSafeEqual(got, expectedAuth);
}

const jsonParser = express.json({
    type: ["application/scim+json", "application/json"],
    limit: "1mb",
    verify: (req, res, buf) => { req.rawBody = buf; },
});

// ---- /scim/v2 ----

const scim = express.Router();

// 1. accounting + request log (status filled in when the response finishes)
scim.use((req, res, next) => {
    const rel = req.path;
    const key = routeKeyOf(req.method, rel);
    req.routeKey = key;
    // at: arrival in ms since the epoch, from the monotonic clock (fractional), so tests can
    // check the pace the target was sent requests at.
    const entry = {method: req.method, path: safeDecode(rel), query: {...req.query}, raw: undefined, status: 0,
        at: performance.timeOrigin + performance.now()};
    req.logEntry = entry;
    stats.requests++;
    stats.byRoute[key] = (stats.byRoute[key] ?? 0) + 1;
    ring[ringNext] = entry;
    ringNext = (ringNext + 1) % LOG_CAPACITY;
    if (ringCount < LOG_CAPACITY) ringCount++;
    res.once("finish", () => {
        entry.status = res.statusCode;
        entry.raw = req.rawBody;
        const s = String(res.statusCode);
        stats.byStatus[s] = (stats.byStatus[s] ?? 0) + 1;
    });
    // connection dropped (fault drop, client gone): no status, but keep the body
    res.once("close", () => { if (entry.raw === undefined) entry.raw = req.rawBody; });
    next();
});

// 1b. latency (PUT /_admin/latency), read when the request arrives
scim.use((req, res, next) => {
    const ms = latencyMs;
    if (!(ms > 0)) return next();
    stats.delayed++;
    // A client that gave up meanwhile (timeout, killed) gets nothing: reading its body now
    // would fail and be answered as a 500 no one receives.
    setTimeout(() => { if (!req.socket?.destroyed && !res.destroyed) next(); }, ms);
});

// 2. bearer auth
scim.use((req, res, next) => {
    if (authorised(req)) return next();
    sendScimError(res, 401, "Missing or invalid bearer token", undefined, {"WWW-Authenticate": 'Bearer realm="scim"'});
});

// 3. body (application/scim+json or application/json)
scim.use(jsonParser);

// 4. fault injection
// The first rule that matches the route and (probability < 1) whose PRNG draw
// hits applies; a miss falls through to the next rules, then to normal handling.
scim.use((req, res, next) => {
    if (!faults.length) return next();
    let idx = -1;
    for (let i = 0; i < faults.length; i++) {
        const c = faults[i];
        if (!(c.remaining > 0) || (c.match && c.match !== req.routeKey)) continue;
        if (c.rng && !(c.rng() < c.probability)) { stats.faults.skipped++; continue; }
        idx = i;
        break;
    }
    if (idx < 0) return next();
    const f = faults[idx];
    if (--f.remaining <= 0) faults.splice(idx, 1);   // Infinity (until removed) stays
    stats.faults.applied++;
    let act;
    if (f.drop) {
        stats.faults.dropped++;
        // no response at all: the client sees an empty reply / connection reset
        act = () => req.socket.destroy();
    } else {
        stats.faults.answered++;
        // Some real targets quote the request's Authorization header in their error detail; the
        // bridge must never copy the token from there into a log, Redis or a dead letter.
        const detail = (f.detail ?? `Injected fault (${f.status})`) +
            (f.echoAuthorization ? ` (received Authorization: ${req.headers.authorization ?? ""})` : "");
        const headers = f.retryAfter !== undefined ? {"Retry-After": f.retryAfter} : undefined;
        // A given body is answered as it is: a hostile or broken server's resource (an id
        // that is a path, say), not only an error.
        act = f.body !== undefined ? () => sendScim(res, f.status, f.body, headers)
                                   : () => sendScimError(res, f.status, detail, f.scimType, headers);
    }
    if (f.delayMs > 0) setTimeout(act, f.delayMs); else act();
});

// 4b. --behave-like rules that refuse whole requests (rules on stored data are
// in users.validate). Not installed in generic mode.
const FILTER_WORDS = new Set(["and", "or", "not", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "true", "false", "null"]);
const CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:";

// Attribute paths a filter refers to, as written (e.g. `emails[type eq "work"].value`),
// or null if it cannot be tokenised (the normal filter handling then reports
// the syntax error). Sub-attributes inside a value filter `[...]` belong to
// their path and are not reported separately.
function filterAttributePaths(filter) {
    const paths = [];
    let i = 0;
    const n = filter.length;
    while (i < n) {
        const c = filter[i];
        if (c === " " || c === "\t" || c === "(" || c === ")") { i++; continue; }
        if (c === '"') {
            const r = scanJsonString(filter, i);
            if (!r) return null;
            i = r[1];
            continue;
        }
        if (c === "[" || c === "]") return null;
        const start = i;
        while (i < n && !" \t()[]\"".includes(filter[i])) i++;
        if (filter[i] === "[") {
            // value filter: skip to the matching "]" (strings may contain "]"), then an optional ".sub"
            i++;
            while (i < n && filter[i] !== "]") {
                if (filter[i] === '"') { const r = scanJsonString(filter, i); if (!r) return null; i = r[1]; }
                else i++;
            }
            if (i >= n) return null;
            i++;
            while (i < n && !" \t()[]\"".includes(filter[i])) i++;
        }
        const word = filter.slice(start, i);
        if (FILTER_WORDS.has(word.toLowerCase()) || /^-?\d/.test(word)) continue;
        paths.push(word);
    }
    return paths;
}

// Genesys: "Only userName can be filtered on". Returns an error detail or null.
function genesysFilterRefusal(filter) {
    if (typeof filter !== "string" || !filter.trim()) return null;
    const paths = filterAttributePaths(filter);
    if (!paths) return null;
    const bad = paths.filter(w => {
        let lc = w.toLowerCase();
        if (lc.startsWith(CORE_USER_URN)) lc = lc.slice(CORE_USER_URN.length);
        return lc !== "username";
    });
    if (!bad.length) return null;
    return `Genesys Cloud only supports filtering Users on userName; this filter uses ${[...new Set(bad)].join(", ")}`;
}

if (MODE !== "generic") scim.use((req, res, next) => {
    const segs = req.path.split("/").filter(Boolean);
    const top = segs.length ? segs[0].toLowerCase() : "";
    if (MODE === "elium") {
        if (top === "groups") return sendScimError(res, 404, "Groups are not supported");
    } else if (MODE === "genesys") {
        if (top === "groups") {
            if (req.method === "POST" && segs.length === 1)
                return sendScimError(res, 405, "Genesys Cloud does not support group creation: the group must already exist " +
                    "in Genesys Cloud with the same displayName", undefined, {Allow: "GET"});
            if (req.method === "DELETE" && segs.length === 2 && segs[1] !== ".search")
                return sendScimError(res, 405, "Genesys Cloud does not support group deletion", undefined, {Allow: "GET, PUT, PATCH"});
        } else if (top === "users") {
            let filter;
            if (req.method === "GET" && segs.length === 1) filter = req.query.filter;
            else if (req.method === "POST" && segs.length === 2 && segs[1] === ".search") filter = req.body?.filter;
            const refusal = genesysFilterRefusal(filter);
            if (refusal) return sendScimError(res, 400, refusal, "invalidFilter");
        }
    }
    next();
});

// 5. our handlers in front of SCIMMY for Users/Groups
function formatRecord(kind, rec, attributes) {
    const {Resource, Schema} = RESOURCES[kind];
    return new Schema(rec, "out", Resource.basepath(), attributes);
}

// Stored records are never mutated (every change stores a new object), so the
// SCIMMY-formatted JSON of a record (default attribute set) can be cached.
const jsonCache = new WeakMap();
function recordJson(kind, rec) {
    let s = jsonCache.get(rec);
    if (s === undefined) {
        s = JSON.stringify(formatRecord(kind, rec));
        jsonCache.set(rec, s);
    }
    return s;
}

function sendRaw(res, status, json) {
    res.statusCode = status;
    res.setHeader("Content-Type", SCIM_CT);
    res.end(json);
}

function intParam(v) {
    if (typeof v !== "string" || !/^[+-]?\d+$/.test(v.trim())) return undefined;
    return parseInt(v, 10);
}

scim.use(async (req, res, next) => {
    const segs = req.path.split("/").filter(Boolean);
    const kind = segs.length ? RESOURCE_BY_LC[segs[0].toLowerCase()] : undefined;
    if (segs.length === 1 && segs[0] === ".search") fixItemsPerPage(res);
    if (!kind || segs.length > 2) return next();
    const {Resource, store} = RESOURCES[kind];
    try {
        if (segs.length === 1) {
            if (req.method !== "GET") return next();
            const q = req.query;
            if (q.sortBy !== undefined) return next();                    // SCIMMY sorts
            for (const k of ["filter", "attributes", "excludedAttributes", "startIndex", "count"])
                if (Array.isArray(q[k])) return sendScimError(res, 400, `Query parameter '${k}' given more than once`, "invalidSyntax");
            let list;
            if (q.filter !== undefined) {
                const c = typeof q.filter === "string" && q.filter.trim() ? compileFilter(kind, q.filter.trim()) : null;
                if (!c) return paginateThroughScimmy(req, res, next);
                list = candidates(store, c.terms).filter(c.pred);
            } else {
                list = store.list();
            }
            let startIndex = intParam(q.startIndex) ?? 1;
            if (startIndex < 1) startIndex = 1;
            let count = intParam(q.count) ?? DEFAULT_COUNT;
            if (count < 0) count = 0;
            if (count > MAX_COUNT) count = MAX_COUNT;
            const attributes = (q.attributes !== undefined || q.excludedAttributes !== undefined)
                ? new Resource({...(q.attributes !== undefined ? {attributes: q.attributes} : {}),
                    ...(q.excludedAttributes !== undefined ? {excludedAttributes: q.excludedAttributes} : {})}).attributes
                : undefined;
            const page = list.slice(startIndex - 1, startIndex - 1 + count);
            const items = attributes ? page.map(r => JSON.stringify(formatRecord(kind, r, attributes))) : page.map(r => recordJson(kind, r));
            return sendRaw(res, 200, `{"schemas":["${LIST_SCHEMA}"],"totalResults":${list.length},"itemsPerPage":${page.length},` +
                `"startIndex":${startIndex},"Resources":[${items.join(",")}]}`);
        }

        // /{kind}/{id}
        const id = safeDecode(segs[1]);
        if (id === ".search") { fixItemsPerPage(res); return next(); }
        // Quirk: SCIMMY builds a filter `id eq "<id>"` from the path and answers
        // 400 for ids containing a quote; unknown ids are simply 404 here.
        const rec = store.get(id);
        if (!rec) {
            if (!["GET", "PUT", "PATCH", "DELETE"].includes(req.method)) return next();
            return sendScimError(res, 404, `Resource ${id} not found`);
        }
        if (req.method === "GET" && req.query.attributes === undefined && req.query.excludedAttributes === undefined)
            return sendRaw(res, 200, recordJson(kind, rec));
        if (req.method === "PATCH") {
            // SCIMMY's PATCH is read-modify-write across awaits: serialise PATCHes
            // per resource so concurrent requests don't lose each other's updates.
            const out = await withLock(kind + "/" + id, async () => {
                const cur = store.get(id);
                if (!cur) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
                const body = fixPatchBody(kind, cur, req.body);
                const value = await new Resource(id, req.query).patch(body);
                // scimmy-routers answers 204 when nothing changed; we always return the resource.
                return value ?? await new Resource(id, req.query).read();
            });
            return sendScim(res, 200, out);
        }
        return next();
    } catch (ex) {
        if (ex instanceof FilterSyntaxError) return sendScimError(res, 400, ex.message, "invalidFilter");
        next(ex);
    }
});

// List requests we could not evaluate ourselves: apply our default page size
// so both paths page the same way, then let SCIMMY (filter.match) do it.
function paginateThroughScimmy(req, res, next) {
    fixItemsPerPage(res);
    if (req.query.count === undefined) req.query.count = String(DEFAULT_COUNT);
    else {
        const c = intParam(req.query.count);
        if (c !== undefined && c > MAX_COUNT) req.query.count = String(MAX_COUNT);
    }
    next();
}

const locks = new Map();   // key -> tail promise of the queue
async function withLock(key, fn) {
    const prev = locks.get(key);
    let release;
    const mine = new Promise(r => { release = r; });
    const tail = prev ? prev.then(() => mine) : mine;
    locks.set(key, tail);
    if (prev) await prev;
    try {
        return await fn();
    } finally {
        release();
        if (locks.get(key) === tail) locks.delete(key);
    }
}

// SCIMMY reports itemsPerPage = requested count; RFC 7644 wants the number
// of resources in this page.
function fixItemsPerPage(res) {
    const send = res.send;
    res.send = function (body) {
        if (body && typeof body === "object" && Array.isArray(body.Resources) && body.schemas?.[0] === LIST_SCHEMA)
            body.itemsPerPage = body.Resources.length;
        return send.call(this, body);
    };
}

// ---- PATCH pre-processing (SCIMMY quirks) ----
//
// Rewrites the PatchOp body (never in place: the request log keeps the raw
// body) so that valid RFC 7644 forms SCIMMY 1.3.5 mishandles still work.
function fixPatchBody(kind, rec, body) {
    if (!body || typeof body !== "object" || !Array.isArray(body.Operations)) return body;
    let changed = false;
    const ops = [];
    for (const op of body.Operations) {
        const fixed = fixPatchOp(kind, rec, op);
        if (fixed !== op) changed = true;
        if (Array.isArray(fixed)) ops.push(...fixed); else ops.push(fixed);
    }
    return changed ? {...body, Operations: ops} : body;
}

function fixPatchOp(kind, rec, op) {
    if (!op || typeof op !== "object" || typeof op.op !== "string") return op;
    const verb = op.op.toLowerCase();
    if (verb !== "add" && verb !== "replace") return op;

    // Path-less add/replace whose value object uses valuePath keys
    // ({"emails[type eq \"work\"].value": "x"}): split those keys into their own
    // operations so the upsert below applies to them too.
    if (op.path === undefined) {
        const v = op.value;
        if (!v || typeof v !== "object" || Array.isArray(v)) return op;
        const keys = Object.keys(v);
        if (!keys.some(k => k.includes("["))) return op;
        const plain = {}, extra = [];
        for (const k of keys) {
            if (k.includes("[")) extra.push(fixPatchOp(kind, rec, {op: op.op, path: k, value: v[k]}));
            else plain[k] = v[k];
        }
        const out = Object.keys(plain).length ? [{...op, value: plain}] : [];
        return out.concat(...extra);
    }

    // add/replace on `attr[sub eq "x" (and sub2 eq "y")*].leaf` with no
    // matching element: SCIMMY answers 400 noTarget. For add that is wrong
    // (RFC 7644 §3.5.2.1: a missing target is created); for replace RFC 7644
    // §3.5.2.3 says noTarget, but Entra ID-style clients rely on it creating
    // the element, so we upsert unless started with --strict-replace.
    if (verb === "replace" && opts.strictReplace) return op;
    if (typeof op.path !== "string" || !op.path.includes("[")) return op;
    const def = RESOURCES[kind].Schema.definition;
    let p, terms;
    try {
        p = compilePath(op.path, def.attributes, def);
        const m = /\[(.*)\]/s.exec(op.path);
        terms = m && parseSimpleFilter(m[1]);
    } catch {
        return op;   // let SCIMMY report the bad path
    }
    if (!p || !p.valueFilter || p.subKey === undefined || !p.attr.config.multiValued) return op;
    // only plain `sub eq "value"` conjunctions can be turned into a new element
    if (!terms || terms.some(t => t.op !== "eq" || t.path.includes(".") || /^urn:/i.test(t.path))) return op;
    const base = p.container ? rec[p.container] : rec;
    const items = base && Array.isArray(base[p.key]) ? base[p.key] : [];
    if (items.some(it => it !== null && typeof it === "object" && p.valueFilter(it))) return op;   // SCIMMY handles it
    const elem = {};
    for (const t of terms) {
        const sub = findAttr(p.attr.subAttributes, t.path);
        if (!sub) return op;
        elem[sub.name] = t.value;
    }
    elem[p.subKey] = op.value;
    return {op: "add", path: (p.container ? p.container + ":" : "") + p.key, value: [elem]};
}

scim.use(scimmyRouter);

// 6. errors (body-parser errors, anything SCIMMY passes on)
scim.use((err, req, res, next) => {
    const status = Number(err?.status ?? err?.statusCode ?? 500) || 500;
    if (status >= 500 && status !== 501) process.stderr.write(`scim-target: ${req.method} ${req.originalUrl}: ${err?.stack ?? err}\n`);
    if (res.headersSent) return;
    let scimType = err instanceof SCIMMY.Types.Error ? err.scimType : undefined;
    let detail = err?.message ?? String(err);
    if (err?.type === "entity.parse.failed") { scimType = "invalidSyntax"; detail = `Request body is not valid JSON: ${err.message}`; }
    sendScimError(res, status, detail, scimType);
});

app.use(BASE, scim);

// ---- /_admin ----

const admin = express.Router();
admin.use((req, res, next) => {
    if (authorised(req, startupAuth)) return next();   // never the rotated token
    res.setHeader("WWW-Authenticate", 'Bearer realm="scim-admin"');
    sendJson(res, 401, {error: "Missing or invalid bearer token"});
});
admin.use(express.json({type: () => true, limit: "1mb"}));

function adminRecord(kind, rec) {
    const {Resource} = RESOURCES[kind];
    return {...rec, meta: {...rec.meta, location: `${Resource.basepath()}/${rec.id}`}};
}

admin.get("/users", (req, res) => sendJson(res, 200, users.list().map(r => adminRecord("Users", r))));
admin.get("/groups", (req, res) => sendJson(res, 200, groups.list().map(r => adminRecord("Groups", r))));
admin.get("/stats", (req, res) => sendJson(res, 200, {
    requests: stats.requests, byRoute: stats.byRoute, byStatus: stats.byStatus,
    users: users.size, groups: groups.size,
    delayed: stats.delayed, faults: {...stats.faults},
}));
admin.get("/behavior", (req, res) => {
    const m = MODES[MODE];
    sendJson(res, 200, {mode: MODE, app: m.app, tenantUrl: m.tenantUrl, rules: [...m.rules, ...COMMON_RULES]});
});
// Seed a group straight into the store (every mode): Genesys refuses POST /Groups,
// groups must already exist there with the same displayName.
admin.post("/groups", (req, res) => {
    const b = req.body;
    if (!b || typeof b !== "object" || Array.isArray(b)) return sendJson(res, 400, {error: "Body must be a JSON object"});
    const extra = Object.keys(b).filter(k => k !== "displayName" && k !== "externalId");
    if (extra.length) return sendJson(res, 400, {error: `Unsupported field(s): ${extra.join(", ")} (only displayName and externalId)`});
    if (typeof b.displayName !== "string" || !b.displayName.trim()) return sendJson(res, 400, {error: "'displayName' must be a non-empty string"});
    if (b.externalId !== undefined && typeof b.externalId !== "string") return sendJson(res, 400, {error: "'externalId' must be a string"});
    try {
        const data = {schemas: [SCIMMY.Schemas.Group.definition.id], displayName: b.displayName};
        if (b.externalId !== undefined) data.externalId = b.externalId;
        const rec = groups.write(undefined, new SCIMMY.Schemas.Group(data, "in"));
        sendJson(res, 201, adminRecord("Groups", rec));
    } catch (ex) {
        sendJson(res, Number(ex?.status) || 400, {error: ex?.message ?? String(ex)});
    }
});
admin.post("/reset", (req, res) => {
    users.clear();
    groups.clear();
    resetStats();
    faults = [];
    latencyMs = 0;
    scimAuth = startupAuth;
    res.status(204).end();
});
admin.get("/requests", (req, res) => {
    let limit = intParam(req.query.limit) ?? 100;
    limit = Math.max(0, Math.min(limit, LOG_CAPACITY));
    const n = Math.min(limit, ringCount);
    const out = [];
    for (let k = n; k >= 1; k--) {
        const e = ring[(ringNext - k + LOG_CAPACITY) % LOG_CAPACITY];
        let body = null;
        if (e.raw && e.raw.length) {
            try { body = JSON.parse(e.raw.toString("utf8")); } catch { body = null; }
        }
        out.push({method: e.method, path: e.path, query: e.query, body, status: e.status, at: e.at});
    }
    sendJson(res, 200, out);
});

function normaliseMatch(m) {
    const mm = /^\s*([A-Za-z]+)\s+(\/\S*)\s*$/.exec(m);
    if (!mm) return null;
    const method = mm[1].toUpperCase();
    // accept either a route key ("/Users/{id}") or a concrete path ("/Users/abc")
    return routeKeyOf(method, mm[2].replace(/^\/scim\/v2(?=\/|$)/i, ""));
}

// mulberry32: small deterministic PRNG, uniform in [0, 1). One per fault rule.
function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6D2B79F5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Number of a JSON number or numeric string; NaN for anything else (true, null, "").
function numberOf(v) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && v.trim()) return Number(v);
    return NaN;
}

// Listing form of a rule: internal state left out, remaining as count (null = until removed).
function faultView({remaining, rng, ...f}) {
    return {...f, count: remaining === Infinity ? null : remaining};
}

admin.get("/faults", (req, res) => sendJson(res, 200, faults.map(faultView)));
admin.post("/faults", (req, res) => {
    const b = req.body ?? {};
    if (b.drop !== undefined && typeof b.drop !== "boolean") return sendJson(res, 400, {error: "'drop' must be true or false"});
    const drop = b.drop === true;
    const status = Number(b.status);
    if (!(drop && b.status === undefined) && (!Number.isInteger(status) || status < 100 || status > 599))
        return sendJson(res, 400, {error: "'status' must be an HTTP status code (100-599)"});
    let probability = 1;
    if (b.probability !== undefined) {
        probability = numberOf(b.probability);
        if (!(probability > 0 && probability <= 1)) return sendJson(res, 400, {error: "'probability' must be a number with 0 < p <= 1"});
    }
    let seed;
    if (b.seed !== undefined) {
        seed = numberOf(b.seed);
        if (!Number.isSafeInteger(seed)) return sendJson(res, 400, {error: "'seed' must be an integer"});
    }
    const random = probability < 1;
    const count = b.count === undefined ? (random ? Infinity : 1) : Number(b.count);
    if (count !== Infinity && (!Number.isInteger(count) || count < 1)) return sendJson(res, 400, {error: "'count' must be a positive integer"});
    let match;
    if (b.match !== undefined && b.match !== null && b.match !== "" && b.match !== "*") {
        match = typeof b.match === "string" ? normaliseMatch(b.match) : null;
        if (!match) return sendJson(res, 400, {error: "'match' must look like \"METHOD /Users\" or \"METHOD /Users/{id}\""});
    }
    const delayMs = b.delayMs === undefined ? 0 : Number(b.delayMs);
    if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 600000) return sendJson(res, 400, {error: "'delayMs' must be 0..600000"});
    const f = b.status === undefined ? {remaining: count} : {status, remaining: count};
    if (match) f.match = match;
    if (b.retryAfter !== undefined && b.retryAfter !== null) f.retryAfter = String(b.retryAfter);
    if (typeof b.detail === "string") f.detail = b.detail;
    if (typeof b.scimType === "string") f.scimType = b.scimType;
    if (b.echoAuthorization === true) f.echoAuthorization = true;
    if (b.body !== undefined) {
        if (drop || b.status === undefined || b.body === null || typeof b.body !== "object")
            return sendJson(res, 400, {error: "'body' must be a JSON object, answered with 'status' (not with drop)"});
        f.body = b.body;
    }
    if (delayMs) f.delayMs = delayMs;
    if (random) {
        if (seed === undefined) seed = Math.floor(Math.random() * 4294967296);   // listed, so a run can be replayed
        f.probability = probability;
        f.seed = seed;
        f.rng = mulberry32(seed);
    }
    if (drop) f.drop = true;
    faults.push(f);
    sendJson(res, 201, faults.map(faultView));
});
admin.delete("/faults", (req, res) => { faults = []; res.status(204).end(); });

admin.get("/latency", (req, res) => sendJson(res, 200, {delayMs: latencyMs}));
admin.put("/latency", (req, res) => {
    const b = req.body;
    const ms = b && typeof b === "object" && !Array.isArray(b) ? numberOf(b.delayMs) : NaN;
    if (!Number.isFinite(ms) || ms < 0 || ms > 600000) return sendJson(res, 400, {error: "Body must be {\"delayMs\": 0..600000}"});
    latencyMs = ms;
    sendJson(res, 200, {delayMs: latencyMs});
});

// The token itself is never returned, only whether it differs from the start-up one.
const tokenState = () => ({rotated: !scimAuth.equals(startupAuth)});
admin.get("/token", (req, res) => sendJson(res, 200, tokenState()));
admin.put("/token", (req, res) => {
    const t = req.body?.token;
    // what authorised() can match: it trims the received token, so no spaces at the ends
    if (typeof t !== "string" || !/^[\x21-\x7e]{1,4096}$/.test(t))
        return sendJson(res, 400, {error: "'token' must be 1-4096 printable ASCII characters without spaces"});
    scimAuth = Buffer.from("Bearer " + t);
    sendJson(res, 200, tokenState());
});
admin.delete("/token", (req, res) => { scimAuth = startupAuth; res.status(204).end(); });
admin.use((req, res) => sendJson(res, 404, {error: "Unknown admin endpoint"}));
admin.use((err, req, res, next) => {
    if (res.headersSent) return;
    sendJson(res, Number(err?.status) || 500, {error: err?.message ?? String(err)});
});

app.use("/_admin", admin);

// anything else
app.use((req, res) => sendScimError(res, 404, "Endpoint Not Found"));
app.use((err, req, res, next) => {
    process.stderr.write(`scim-target: ${req.method} ${req.originalUrl}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendScimError(res, 500, "Internal server error");
});

// --------------------------------------------------------------- start ----

const server = app.listen(opts.port, opts.host, () => {
    const addr = server.address();
    let host = opts.host;
    if (host === "0.0.0.0" || host === "::" || host === "") host = "127.0.0.1";
    if (host.includes(":")) host = `[${host}]`;
    ORIGIN = `http://${host}:${addr.port}`;
    const base = ORIGIN + BASE;
    // Set resource base paths now (scimmy-routers only does it per request, and
    // our fast paths answer before it runs).
    SCIMMY.Resources.Schema.basepath(base);
    SCIMMY.Resources.ResourceType.basepath(base);
    SCIMMY.Resources.ServiceProviderConfig.basepath(base);
    for (const R of Object.values(SCIMMY.Resources.declared())) R.basepath(base);
    for (const {Resource} of Object.values(RESOURCES)) Resource.basepath(base);   // Group may be undeclared (elium)
    process.stdout.write(`SCIM target listening on ${base}\n`);
});
server.keepAliveTimeout = 65000;
server.on("error", (err) => {
    process.stderr.write(`scim-target: cannot listen on ${opts.host}:${opts.port}: ${err.message}\n`);
    process.exit(1);
});

let stopping = false;
function stop(sig) {
    if (stopping) return;
    stopping = true;
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

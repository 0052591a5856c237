#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "provbridge/core/outcome.hpp"
#include "provbridge/transforms/expression.hpp"
#include "provbridge/transforms/scim_path.hpp"

namespace provbridge::transforms {

inline constexpr const char* kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr const char* kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr const char* kEnterpriseUserSchema =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
inline constexpr const char* kPatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr const char* kListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

enum class MappingType { Direct, Constant, Expression, None };
enum class ApplyOn { Always, OnCreate };

// One row of an app's attribute-mapping table, as in Entra's mapping screen.
struct AttributeMapping {
    ScimPath target;
    std::string key;  // target.to_string(), computed once: the attribute-set key
    MappingType type = MappingType::Direct;
    Expression source;
    std::string source_text;  // as written: attribute name, constant or expression (for previews)
    ApplyOn apply = ApplyOn::Always;
    std::optional<nlohmann::json> default_value;  // used on create only, when the value is null
    int match_precedence = 0;                     // 0: not used for matching; 1 is tried first
    // Set for references (manager): the value is another object's source id, sent as
    // {"value": <that object's id in the target>}.
    std::optional<ObjectType> reference;
    bool remove = false;  // an override row that deletes the profile's row for this target
};

// Resolves a reference attribute: the id in the target of another source object.
class ReferenceResolver {
public:
    virtual ~ReferenceResolver() = default;
    // nullopt when that object has no account in the target (yet).
    virtual std::optional<std::string> target_id(ObjectType type, const std::string& source_id) = 0;
};

struct ObjectMapping {
    std::string resource_path;  // "/Users" or "/Groups"
    std::string core_schema;
    std::vector<AttributeMapping> attributes;

    // Matching mappings in precedence order.
    std::vector<const AttributeMapping*> matching() const;
};

// Entra ID's default SCIM user mapping (the generic profile's users): userName←userPrincipalName
// (matching), active←Switch([IsSoftDeleted], …), displayName, title←jobTitle, emails work←mail,
// name parts, phone numbers, externalId←mailNickname, preferredLanguage, enterprise
// employeeNumber, department and manager.
const ObjectMapping& default_user_mapping();

enum class Phase { Create, Update };

// Values for the rows of one ObjectMapping, by row (null = no value), so computing desired
// state allocates no keys; the key of a row is its mapping's canonical target path. Keeps a
// pointer to the mapping: the mapping must outlive the set.
class AttributeSet {
public:
    AttributeSet() = default;
    explicit AttributeSet(const ObjectMapping& mapping);

    const ObjectMapping* mapping() const { return mapping_; }
    std::size_t rows() const { return values_.size(); }
    bool has(std::size_t row) const { return !values_[row].is_null(); }
    const nlohmann::json& value(std::size_t row) const { return values_[row]; }
    void set(std::size_t row, nlohmann::json value) { values_[row] = std::move(value); }
    void clear(std::size_t row) { values_[row] = nullptr; }

    // By key (canonical target path); null/nullptr when the set has no value for it.
    const nlohmann::json* find(std::string_view key) const;
    bool contains(std::string_view key) const { return find(key) != nullptr; }
    const nlohmann::json& operator[](std::string_view key) const;

    std::size_t size() const;  // rows with a value
    bool empty() const { return size() == 0; }
    // {key: value} for the rows with a value: how a set is stored (the link's applied values).
    nlohmann::json to_json() const;
    bool operator==(const AttributeSet& other) const { return values_ == other.values_; }

private:
    const ObjectMapping* mapping_ = nullptr;
    std::vector<nlohmann::json> values_;
};

// The desired target attributes, keyed by canonical SCIM path, nulls left out. On create,
// defaults fill null values and on_create mappings are included; on update they are not.
// Values are converted to the target attribute's type (active is a boolean). References are
// resolved through `resolver`; one that cannot be resolved is left out and named in
// `unresolved` (e.g. "manager 5e1d22 has no account in the app yet").
AttributeSet desired_attributes(const ObjectMapping& mapping, const SourceContext& context, Phase phase,
                                ReferenceResolver* resolver = nullptr, std::vector<std::string>* unresolved = nullptr);

// Both sets from one evaluation of each mapping (a SelectUniqueValue asks the target once):
// the create set (defaults applied, on_create rows included) and the update set.
struct DesiredSets {
    AttributeSet create;
    AttributeSet update;
};
DesiredSets desired_create_and_update(const ObjectMapping& mapping, const SourceContext& context,
                                      ReferenceResolver* resolver = nullptr,
                                      std::vector<std::string>* unresolved = nullptr);

// The attribute set read back from a target resource.
AttributeSet extract_attributes(const ObjectMapping& mapping, const nlohmann::json& resource);

// A full SCIM resource for POST built from an attribute set, with its schemas.
nlohmann::json build_resource(const ObjectMapping& mapping, const AttributeSet& attributes);

// A minimal RFC 7644 PatchOp that takes the target from `applied` to `desired` for the
// mapping's always-applied attributes; empty Operations when nothing differs. `changes`
// receives old and new values for the provisioning log.
struct PatchPlan {
    nlohmann::json operations = nlohmann::json::array();
    std::vector<AttributeChange> changes;
    bool empty() const { return operations.empty(); }
};
PatchPlan diff_attributes(const ObjectMapping& mapping, const AttributeSet& desired,
                          const nlohmann::json& applied);

// The last-applied attribute set once the plan's PATCH succeeded: `applied` with the changes
// made (attributes updates never touch, such as on_create ones, keep their values).
nlohmann::json applied_after(const nlohmann::json& applied, const PatchPlan& plan);

// Wraps operations in a PatchOp message body.
nlohmann::json patch_body(const nlohmann::json& operations);

}  // namespace provbridge::transforms

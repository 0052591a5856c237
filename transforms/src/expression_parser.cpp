// Parser for Entra's expression syntax:
//
//   value    := operand [ ("=" | "<>" | "<" | ">" | "<=" | ">=") operand ]
//   operand  := "[" name "]" | string | number | "&H" hex | Name "(" [ arg { "," arg } ] ")"
//             | vbTextCompare | vbBinaryCompare
//   arg      := value | nothing            (an empty argument, as in Switch([x], , "a", "b"))
//   string   := '"' { char | '\"' | '\\' } '"'
//
// Names are case-sensitive; white space (new lines included) may separate any two tokens.
// Errors carry a 1-based column counted in characters.
#include <charconv>

#include "provbridge/transforms/expression.hpp"

namespace provbridge::transforms {
namespace {

using nlohmann::json;

// Deeper nesting than any real mapping needs, shallow enough that recursion stays cheap.
constexpr int kMaxDepth = 100;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::variant<Expression, ExpressionError> run() {
        const auto length = detail::utf8_length(text_);
        if (length > kMaxExpressionLength) {
            return ExpressionError{"the expression is " + std::to_string(length) +
                                       " characters long; at most 10,000 are allowed",
                                   kMaxExpressionLength + 1};
        }
        skip_space();
        if (at_end()) return ExpressionError{"empty expression", column(pos_)};
        Expression e;
        if (!parse_value(e, 0)) return std::move(*error_);
        skip_space();
        if (!at_end()) {
            fail(pos_, "unexpected " + describe(pos_) + " after the end of the expression");
            return std::move(*error_);
        }
        return e;
    }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    char peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

    void skip_space() {
        while (!at_end() && is_space(text_[pos_])) ++pos_;
    }

    std::size_t column(std::size_t offset) const { return detail::utf8_length(text_.substr(0, offset)) + 1; }

    std::string describe(std::size_t offset) const {
        if (offset >= text_.size()) return "the end of the expression";
        const auto rest = text_.substr(offset);
        return "'" + std::string(rest.substr(0, std::max<std::size_t>(1, detail::utf8_offset(rest, 1)))) + "'";
    }

    bool fail(std::size_t offset, std::string message) {
        if (!error_) error_ = ExpressionError{std::move(message), column(offset)};
        return false;
    }

    bool parse_value(Expression& out, int depth) {
        const auto left_at = pos_;
        if (!parse_operand(out, depth)) return false;
        skip_space();
        const auto op_at = pos_;
        std::optional<CompareOp> op;
        std::size_t op_length = 1;
        const char c = peek();
        const char next = peek(1);
        if (c == '=') {
            op = CompareOp::Equal;
        } else if (c == '<' && next == '>') {
            op = CompareOp::NotEqual;
            op_length = 2;
        } else if (c == '<' && next == '=') {
            op = CompareOp::LessEqual;
            op_length = 2;
        } else if (c == '>' && next == '=') {
            op = CompareOp::GreaterEqual;
            op_length = 2;
        } else if (c == '<') {
            op = CompareOp::Less;
        } else if (c == '>') {
            op = CompareOp::Greater;
        }
        if (!op) return true;
        pos_ += op_length;
        skip_space();
        const auto right_at = pos_;
        if (at_end() || peek() == ',' || peek() == ')') {
            return fail(pos_, "expected a value after '" + std::string(text_.substr(op_at, op_length)) + "'");
        }
        Expression right;
        if (!parse_operand(right, depth)) return false;
        const auto is_suv = [](const Expression& e) {
            return e.kind == Expression::Kind::Call && e.name == "SelectUniqueValue";
        };
        if (is_suv(out) || is_suv(right)) {
            return fail(is_suv(out) ? left_at : right_at,
                        "SelectUniqueValue must be the whole expression; it cannot be nested");
        }
        Expression compare;
        compare.kind = Expression::Kind::Compare;
        compare.op = *op;
        compare.args.reserve(2);
        compare.args.push_back(std::move(out));
        compare.args.push_back(std::move(right));
        out = std::move(compare);
        return true;
    }

    bool parse_operand(Expression& out, int depth) {
        const char c = peek();
        if (at_end()) return fail(pos_, "expected a value but reached the end of the expression");
        if (c == '[') return parse_attribute(out);
        if (c == '"') return parse_string(out);
        if (is_digit(c) || (c == '-' && is_digit(peek(1)))) return parse_number(out);
        if (c == '&' && (peek(1) == 'H' || peek(1) == 'h')) return parse_hex(out);
        if (is_name_start(c)) return parse_name(out, depth);
        if (c == ']') return fail(pos_, "unexpected ']' without an opening '['");
        return fail(pos_, "unexpected " + describe(pos_));
    }

    bool parse_attribute(Expression& out) {
        const auto open = pos_++;
        const auto start = pos_;
        while (!at_end() && peek() != ']') {
            if (peek() == '[') return fail(pos_, "unexpected '[' inside the attribute name opened at column " +
                                                     std::to_string(column(open)));
            ++pos_;
        }
        if (at_end()) {
            return fail(pos_, "expected ']' to close the attribute name opened at column " +
                                  std::to_string(column(open)));
        }
        std::string_view name = text_.substr(start, pos_ - start);
        while (!name.empty() && is_space(name.front())) name.remove_prefix(1);
        while (!name.empty() && is_space(name.back())) name.remove_suffix(1);
        ++pos_;
        if (name.empty()) return fail(open, "empty attribute name []");
        out = Expression::attribute(std::string(name));
        return true;
    }

    // \" and \\ are the escapes; a backslash before anything else stays as written, so regex
    // patterns such as "\d{10}" mean what they say.
    bool parse_string(Expression& out) {
        const auto open = pos_++;
        std::string value;
        while (!at_end()) {
            const char c = text_[pos_];
            if (c == '\\' && (peek(1) == '"' || peek(1) == '\\')) {
                value += peek(1);
                pos_ += 2;
            } else if (c == '"') {
                ++pos_;
                out = Expression::constant_value(json(std::move(value)));
                return true;
            } else {
                value += c;
                ++pos_;
            }
        }
        return fail(open, "unterminated string: no closing '\"' for the string opened here");
    }

    bool parse_number(Expression& out) {
        const auto start = pos_;
        if (peek() == '-') ++pos_;
        while (is_digit(peek())) ++pos_;
        bool fraction = false;
        if (peek() == '.' && is_digit(peek(1))) {
            fraction = true;
            ++pos_;
            while (is_digit(peek())) ++pos_;
        }
        const auto text = text_.substr(start, pos_ - start);
        if (fraction) {
            double d = 0;
            const auto res = std::from_chars(text.data(), text.data() + text.size(), d);
            if (res.ec != std::errc{}) return fail(start, "number out of range: " + std::string(text));
            out = Expression::constant_value(d);
        } else {
            std::int64_t n = 0;
            const auto res = std::from_chars(text.data(), text.data() + text.size(), n);
            if (res.ec != std::errc{}) return fail(start, "number out of range: " + std::string(text));
            out = Expression::constant_value(n);
        }
        return true;
    }

    bool parse_hex(Expression& out) {
        const auto start = pos_;
        pos_ += 2;
        const auto digits_at = pos_;
        while (is_hex(peek())) ++pos_;
        if (pos_ == digits_at) return fail(start, "expected hexadecimal digits after &H");
        std::uint64_t n = 0;
        const auto digits = text_.substr(digits_at, pos_ - digits_at);
        const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), n, 16);
        if (res.ec != std::errc{}) return fail(start, "number out of range: &H" + std::string(digits));
        out = Expression::constant_value(n);
        return true;
    }

    bool parse_name(Expression& out, int depth) {
        const auto name_at = pos_;
        while (is_name_char(peek())) ++pos_;
        std::string name(text_.substr(name_at, pos_ - name_at));
        const auto name_end = pos_;
        skip_space();
        if (peek() != '(') {
            // InStr's compareType is written as a bare VB constant.
            if (name == "vbTextCompare" || name == "vbBinaryCompare") {
                pos_ = name_end;
                out = Expression::constant_value(json(std::move(name)));
                return true;
            }
            if (detail::function_name_problem(name)) {
                return fail(name_at, "unexpected name " + name + ": attributes go in square brackets ([" + name +
                                         "]) and functions need '('");
            }
            return fail(pos_, "expected '(' after the function name " + name + " but found " + describe(pos_));
        }
        if (auto problem = detail::function_name_problem(name)) return fail(name_at, std::move(*problem));
        if (depth >= kMaxDepth) {
            return fail(name_at, "the expression nests functions more than " + std::to_string(kMaxDepth) + " deep");
        }
        const auto open = pos_++;
        std::vector<Expression> args;
        std::vector<std::size_t> arg_at;
        skip_space();
        if (peek() == ')') {
            ++pos_;
        } else {
            while (true) {
                skip_space();
                arg_at.push_back(pos_);
                if (peek() == ',' || peek() == ')') {
                    args.push_back(Expression::empty());
                } else if (at_end()) {
                    return fail(pos_, "expected ')' to close " + name + "( opened at column " +
                                          std::to_string(column(open)) + " but reached the end of the expression");
                } else {
                    Expression a;
                    if (!parse_value(a, depth + 1)) return false;
                    args.push_back(std::move(a));
                    skip_space();
                }
                if (peek() == ',') {
                    ++pos_;
                    continue;
                }
                if (peek() == ')') {
                    ++pos_;
                    break;
                }
                if (at_end()) {
                    return fail(pos_, "expected ')' to close " + name + "( opened at column " +
                                          std::to_string(column(open)) + " but reached the end of the expression");
                }
                return fail(pos_, "expected ',' or ')' in the arguments of " + name + " but found " + describe(pos_));
            }
        }
        Expression call;
        call.kind = Expression::Kind::Call;
        call.name = std::move(name);
        call.args = std::move(args);
        if (auto problem = detail::resolve_call(call)) {
            return fail(problem->argument < arg_at.size() ? arg_at[problem->argument] : name_at,
                        std::move(problem->message));
        }
        out = std::move(call);
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::optional<ExpressionError> error_;
};

}  // namespace

std::variant<Expression, ExpressionError> parse_expression(std::string_view text) { return Parser(text).run(); }

}  // namespace provbridge::transforms

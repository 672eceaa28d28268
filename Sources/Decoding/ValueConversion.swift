/// Turns decoded values into the JSON stored in `old_row`/`new_row`
/// (PRODUCT.md §2): integers, numeric and finite floats as exact JSON
/// numbers; booleans as JSON booleans; json/jsonb nested; everything else
/// (NaN and the infinities included) as a string of PostgreSQL's text output.
///
/// The decision rests on what the stream shows: the literal form and the
/// type name. A domain prints under its own name and quoted, so a domain
/// over integer becomes a string.
public enum ValueConversion {
    /// The JSON form of `column`'s value, or nil for an unchanged TOAST value
    /// (which has no content in the stream).
    public static func json(_ column: Column) throws(JSONSyntaxError) -> JSONValue? {
        switch column.value {
        case .null: return .null
        case .unchangedToast: return nil
        case .boolean(let b): return .bool(b)
        case .number(let n): return isJSONNumber(n) ? .number(n) : .string(n)
        case .bits(let digits): return .string(digits)
        case .text(let text):
            if column.typeName == "json" || column.typeName == "jsonb" {
                return try JSONValue(parsing: text)
            }
            return .string(text)
        }
    }

    /// A tuple as a JSON object, column order kept. Unchanged TOAST columns
    /// are left out; their names are returned separately.
    public static func row(_ tuple: [Column]) throws(JSONSyntaxError) -> (row: JSONValue, unchangedToast: [String]) {
        var members: [JSONValue.Member] = []
        members.reserveCapacity(tuple.count)
        var unchanged: [String] = []
        for column in tuple {
            if let value = try json(column) {
                members.append(.init(column.name, value))
            } else {
                unchanged.append(column.name)
            }
        }
        return (.object(members), unchanged)
    }
}

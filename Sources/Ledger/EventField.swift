import Decoding

/// The chain's fields: the one place their order is written down
/// (docs/chain-format.md). Every Swift reader and writer of events derives
/// from this table: the encoder (`Chain`), the COPY that stores events, the
/// store verifier's column list (`StoredEvent`), the export and the bundle
/// verifier. Only the SQL verifier (`walaudit.chain_hash`) spells the order
/// out again; `ChainFieldDriftTests` fails when the two disagree.
///
/// The cases are in stored order: the event hash's fields in chain order,
/// then the payload digest's in order, then the chain's own columns.
public enum EventField: Int, CaseIterable, Sendable {
    // Hashed into the event hash, in this order, after the domain and prev_hash.
    case seq, eventTime, operation, schemaName, tableName, changedColumns, dbUser, roleName, appUser, appContext,
         applicationName, clientAddr, clientPort, backendPID, xid, lsn, lsnPosition, payloadDigest
    // Hashed into the payload digest, in this order, after the domain and the salt.
    case rowKey, oldRow, newRow
    // The chain's own columns.
    case payloadSalt, prevHash, hash

    /// How a field enters the chain.
    public enum Role: Sendable { case event, payload, chain }

    /// The column's type in walaudit.event_log.
    public enum ColumnType: Sendable { case bigint, integer, timestamptz, text, textArray, jsonb, inet, pgLSN, bytea }

    /// The field's canonical type (the tag of docs/chain-format.md).
    public enum Kind: Sendable { case integer, timestamp, text, textArray, json, bytes }

    /// The fields of the event hash, in chain order.
    public static let hashed = allCases.filter { $0.role == .event }
    /// The fields of the payload digest, in order.
    public static let payload = allCases.filter { $0.role == .payload }
    /// Every stored column of the chain, in this table's order (`allCases`
    /// builds a new array at each call: this one is built once).
    public static let stored = Array(allCases)

    public var role: Role {
        switch self {
        case .rowKey, .oldRow, .newRow: .payload
        case .payloadSalt, .prevHash, .hash: .chain
        default: .event
        }
    }

    /// The name in docs/chain-format.md, which is also the event_log column
    /// and the key in an export bundle's records.
    public var name: String {
        switch self {
        case .seq: "seq"
        case .eventTime: "event_time"
        case .operation: "operation"
        case .schemaName: "schema_name"
        case .tableName: "table_name"
        case .changedColumns: "changed_columns"
        case .dbUser: "db_user"
        case .roleName: "role_name"
        case .appUser: "app_user"
        case .appContext: "app_context"
        case .applicationName: "application_name"
        case .clientAddr: "client_addr"
        case .clientPort: "client_port"
        case .backendPID: "backend_pid"
        case .xid: "xid"
        case .lsn: "lsn"
        case .lsnPosition: "lsn_position"
        case .payloadDigest: "payload_digest"
        case .rowKey: "row_key"
        case .oldRow: "old_row"
        case .newRow: "new_row"
        case .payloadSalt: "payload_salt"
        case .prevHash: "prev_hash"
        case .hash: "hash"
        }
    }

    /// The field's key in the records of an export bundle: its name; for a
    /// timestamp, its name with `_us` (microseconds since 1970, the value
    /// hashed; the name itself holds ISO 8601 text, for reading).
    public var bundleKey: String { Self.bundleKeys[rawValue] }
    private static let bundleKeys = stored.map { $0.kind == .timestamp ? $0.name + "_us" : $0.name }

    public var columnType: ColumnType {
        switch self {
        case .seq, .xid: .bigint
        case .clientPort, .backendPID, .lsnPosition: .integer
        case .eventTime: .timestamptz
        case .operation, .schemaName, .tableName, .dbUser, .roleName, .appUser, .applicationName: .text
        case .changedColumns: .textArray
        case .appContext, .rowKey, .oldRow, .newRow: .jsonb
        case .clientAddr: .inet
        case .lsn: .pgLSN
        case .payloadDigest, .payloadSalt, .prevHash, .hash: .bytea
        }
    }

    public var kind: Kind {
        switch columnType {
        case .bigint, .integer, .pgLSN: .integer
        case .timestamptz: .timestamp
        case .text, .inet: .text
        case .textArray: .textArray
        case .jsonb: .json
        case .bytea: .bytes
        }
    }

    /// The field's value in a chained event. (Each case reads its field
    /// through `c`: a local copy of the event retained and released every
    /// reference it holds, 24 times per event.)
    public func value(of c: ChainedEvent) -> ChainValue {
        switch self {
        case .seq: return .integer(c.seq)
        case .eventTime: return .timestamp(c.event.eventTime)
        case .operation: return .text(c.event.operation.rawValue)
        case .schemaName: return Self.optional(c.event.schemaName, ChainValue.text)
        case .tableName: return Self.optional(c.event.tableName, ChainValue.text)
        case .changedColumns: return Self.optional(c.event.changedColumns, ChainValue.textArray)
        case .dbUser: return Self.optional(c.event.actor.dbUser, ChainValue.text)
        case .roleName: return Self.optional(c.event.actor.roleName, ChainValue.text)
        case .appUser: return Self.optional(c.event.actor.appUser, ChainValue.text)
        case .appContext: return Self.optional(c.event.actor.appContext, ChainValue.json)
        case .applicationName: return Self.optional(c.event.actor.applicationName, ChainValue.text)
        // inet's output form (127.0.0.1, not the ::text cast's 127.0.0.1/32)
        case .clientAddr: return Self.optional(c.event.actor.clientAddr, ChainValue.text)
        case .clientPort: return Self.optional(c.event.actor.clientPort, ChainValue.integer)
        case .backendPID: return Self.optional(c.event.actor.backendPID, ChainValue.integer)
        case .xid: return Self.optional(c.event.xid, ChainValue.integer)
        // the commit LSN as a 64-bit integer
        case .lsn: return Self.optional(c.event.lsn.map { Int64(bitPattern: $0.rawValue) }, ChainValue.integer)
        case .lsnPosition: return Self.optional(c.event.lsnPosition, ChainValue.integer)
        case .rowKey: return Self.optional(c.event.rowKey, ChainValue.json)
        case .oldRow: return Self.optional(c.event.oldRow, ChainValue.json)
        case .newRow: return Self.optional(c.event.newRow, ChainValue.json)
        case .payloadDigest: return .bytes(c.payloadDigest)
        case .payloadSalt: return .bytes(c.payloadSalt)
        case .prevHash: return .bytes(c.prevHash)
        case .hash: return .bytes(c.hash)
        }
    }

    @inline(__always)
    private static func optional<T>(_ value: T?, _ wrap: (T) -> ChainValue) -> ChainValue {
        if let value { wrap(value) } else { .null }
    }
}

/// One field's value, as the canonical encoding sees it.
public enum ChainValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case timestamp(PostgresTimestamp)
    case text(String)
    /// One-dimensional; a NULL element is nil.
    case textArray([String?])
    case json(JSONValue)
    case bytes([UInt8])

    /// The kind of a non-NULL value (nil for NULL).
    public var kind: EventField.Kind? {
        switch self {
        case .null: nil
        case .integer: .integer
        case .timestamp: .timestamp
        case .text: .text
        case .textArray: .textArray
        case .json: .json
        case .bytes: .bytes
        }
    }
}

extension CanonicalEncoder {
    /// A field of the chain (NULL: the NULL field).
    public mutating func field(_ value: ChainValue) {
        switch value {
        case .null: null()
        case .integer(let v): integer(v)
        case .timestamp(let t): timestamp(t)
        case .text(let s): text(s)
        case .textArray(let items): textArray(items)
        case .json(let v): json(v)
        case .bytes(let d): data(d)
        }
    }
}

import Decoding

/// Who made a change, as the actor message of its statement said.
public struct Actor: Equatable, Sendable {
    /// The login role (`session_user`): cannot be changed inside a session.
    public var dbUser: String?
    /// The role the statement ran as (after `SET ROLE`).
    public var roleName: String?
    /// The application user named by `walaudit.set_actor` / `walaudit.actor`.
    public var appUser: String?
    public var appContext: JSONValue?
    public var applicationName: String?
    public var clientAddr: String?
    public var clientPort: Int64?
    public var backendPID: Int64?

    public init(dbUser: String? = nil, roleName: String? = nil, appUser: String? = nil, appContext: JSONValue? = nil,
                applicationName: String? = nil, clientAddr: String? = nil, clientPort: Int64? = nil, backendPID: Int64? = nil) {
        (self.dbUser, self.roleName, self.appUser, self.appContext) = (dbUser, roleName, appUser, appContext)
        (self.applicationName, self.clientAddr, self.clientPort, self.backendPID) = (applicationName, clientAddr, clientPort, backendPID)
    }

    /// A change that arrived without an actor message (e.g. the trigger was
    /// dropped): still recorded, with every who-field NULL.
    public static let unknown = Actor()
}

/// One event of the audit trail before it is chained.
public struct AuditEvent: Equatable, Sendable {
    public enum Operation: String, Sendable {
        case insert = "INSERT", update = "UPDATE", delete = "DELETE", truncate = "TRUNCATE"
        case ddl = "DDL", policy = "POLICY", gap = "GAP"
        /// A row as it was when the table's baseline read it (it had no event since the attach).
        case snapshot = "SNAPSHOT"
    }

    /// Commit time of the source transaction (or the time of a non-row event).
    public var eventTime: PostgresTimestamp
    public var operation: Operation
    public var schemaName: String?
    public var tableName: String?
    /// The columns a change touched. The store's `text[]` admits NULL
    /// elements, so the chain does (the worker writes none).
    public var changedColumns: [String?]?
    public var actor: Actor
    public var xid: Int64?
    /// Commit LSN of the source transaction.
    public var lsn: LSN?
    /// Position of the event within its source transaction.
    public var lsnPosition: Int64?
    // The payload: what retention may purge.
    public var rowKey: JSONValue?
    public var oldRow: JSONValue?
    public var newRow: JSONValue?

    public init(eventTime: PostgresTimestamp, operation: Operation, schemaName: String? = nil, tableName: String? = nil,
                changedColumns: [String?]? = nil, actor: Actor = .unknown, xid: Int64? = nil, lsn: LSN? = nil,
                lsnPosition: Int64? = nil, rowKey: JSONValue? = nil, oldRow: JSONValue? = nil, newRow: JSONValue? = nil) {
        (self.eventTime, self.operation, self.schemaName, self.tableName) = (eventTime, operation, schemaName, tableName)
        (self.changedColumns, self.actor, self.xid, self.lsn, self.lsnPosition) = (changedColumns, actor, xid, lsn, lsnPosition)
        (self.rowKey, self.oldRow, self.newRow) = (rowKey, oldRow, newRow)
    }
}

/// An event with its place in the chain.
public struct ChainedEvent: Sendable {
    public var seq: Int64
    public var event: AuditEvent
    public var payloadSalt: [UInt8]
    public var payloadDigest: [UInt8]
    public var prevHash: [UInt8]
    public var hash: [UInt8]
}

/// One name the overlay's DNS holds (`GET /v1/names`, `grapevine dns`): a container's name or
/// alias in a network, with the addresses of one holder and the host it runs on.
public struct NameView: Codable, Sendable, Hashable {
    public var network: String
    public var name: String
    /// `name` (a container's own) or `alias`.
    public var kind: String
    public var addresses: [String]
    /// The host whose row it is.
    public var host: String
    /// False for a container name also held by an older container, which is answered instead.
    public var answered: Bool

    public init(network: String, name: String, kind: String, addresses: [String], host: String, answered: Bool) {
        self.network = network
        self.name = name
        self.kind = kind
        self.addresses = addresses
        self.host = host
        self.answered = answered
    }
}

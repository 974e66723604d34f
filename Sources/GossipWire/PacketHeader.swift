/// The two bytes in front of every datagram: protocol version, then flags.
public enum PacketHeader {
    public static let size = 2

    /// The payload is sealed: a 24-byte nonce follows the header and a 16-byte tag ends the packet.
    public static let sealed: UInt8 = 1 << 0
    /// A plaintext packet carries the sender's cluster label after the header (one length byte,
    /// then the label). Never set together with `sealed`: a sealed packet authenticates the
    /// label without carrying it.
    public static let labelled: UInt8 = 1 << 1

    /// Bytes a datagram spends besides its messages: set `Settings.packetOverhead` to this.
    ///
    /// Sealed: header 2 + nonce 24 + tag 16 = 42, whatever the label. Plaintext: the header,
    /// plus 1 + the label's length when there is a label.
    public static func overhead(sealed: Bool, label: ClusterLabel) -> Int {
        if sealed { return size + AEAD.nonceSize + AEAD.tagSize }
        return label.isEmpty ? size : size + 1 + label.bytes.count
    }
}

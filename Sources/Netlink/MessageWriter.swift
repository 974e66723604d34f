import CNetlink

/// Builds many netlink messages back to back in one buffer, for one `send`.
///
/// Raw memory instead of `[UInt8]`: a batch of 100,000 rows is millions of small stores, and
/// this keeps each one a plain write without bounds or uniqueness checks.
final class MessageWriter {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var count = 0
    private var messageStart = 0

    init(capacity: Int = 64 << 10) {
        self.capacity = max(capacity, 4096)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func reset() { count = 0 }

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var grown = capacity * 2
        while grown < count + extra { grown *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        fresh.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = fresh
        capacity = grown
    }

    private func padToFour() {
        let aligned = (count + 3) & ~3
        if aligned > count {
            base.advanced(by: count).initializeMemory(as: UInt8.self, repeating: 0, count: aligned - count)
            count = aligned
        }
    }

    /// Starts a message; the header's length is patched by `endMessage`.
    func beginMessage(type: UInt16, flags: UInt16, sequence: UInt32) {
        reserve(64)
        messageStart = count
        let header = nlmsghdr(nlmsg_len: 0, nlmsg_type: type, nlmsg_flags: flags, nlmsg_seq: sequence, nlmsg_pid: 0)
        base.storeBytes(of: header, toByteOffset: count, as: nlmsghdr.self)
        count += MemoryLayout<nlmsghdr>.size
    }

    func putNeighborHeader(family: UInt8, ifindex: Int32, state: UInt16, flags: UInt8, type: UInt8 = 0) {
        reserve(16)
        let header = ndmsg(ndm_family: family, ndm_pad1: 0, ndm_pad2: 0, ndm_ifindex: ifindex,
                           ndm_state: state, ndm_flags: flags, ndm_type: type)
        base.storeBytes(of: header, toByteOffset: count, as: ndmsg.self)
        count += MemoryLayout<ndmsg>.size
    }

    /// An `ifinfomsg` for a link request (RTM_SETLINK) on device `ifindex`.
    func putLinkHeader(family: UInt8, ifindex: Int32) {
        reserve(16)
        base.advanced(by: count).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        base.storeBytes(of: family, toByteOffset: count, as: UInt8.self)
        base.storeBytes(of: ifindex, toByteOffset: count + 4, as: Int32.self)
        count += 16
    }

    /// Opens a nested attribute (NLA_F_NESTED); returns the offset `endNested` takes.
    func beginNested(_ type: UInt16) -> Int {
        let start = count
        _ = attributeHeader(type | UInt16(NLA_F_NESTED), length: 0)
        return start
    }

    /// Closes the nested attribute opened at `start`, patching its length.
    func endNested(_ start: Int) {
        base.storeBytes(of: UInt16(count - start), toByteOffset: start, as: UInt16.self)
    }

    /// Writes an attribute header for `length` payload bytes and returns where the payload goes.
    private func attributeHeader(_ type: UInt16, length: Int) -> Int {
        reserve(4 + length + 4)
        base.storeBytes(of: UInt16(4 + length), toByteOffset: count, as: UInt16.self)
        base.storeBytes(of: type, toByteOffset: count + 2, as: UInt16.self)
        let payload = count + 4
        count = payload + length
        return payload
    }

    func putU8(_ type: UInt16, _ value: UInt8) {
        let at = attributeHeader(type, length: 1)
        base.storeBytes(of: value, toByteOffset: at, as: UInt8.self)
        padToFour()
    }

    func putU16(_ type: UInt16, _ value: UInt16) {
        let at = attributeHeader(type, length: 2)
        base.storeBytes(of: value, toByteOffset: at, as: UInt16.self)
        padToFour()
    }

    func putU32(_ type: UInt16, _ value: UInt32) {
        let at = attributeHeader(type, length: 4)
        base.storeBytes(of: value, toByteOffset: at, as: UInt32.self)
    }

    func putMAC(_ type: UInt16, _ mac: MACAddress) {
        let at = attributeHeader(type, length: 6)
        let v = mac.value
        for i in 0..<6 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v >> UInt64(40 - 8 * i)), toByteOffset: at + i, as: UInt8.self)
        }
        padToFour()
    }

    func putIP(_ type: UInt16, _ ip: IPAddress) {
        switch ip {
        case .v4(let v):
            let at = attributeHeader(type, length: 4)
            base.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self)
        case .v6(let hi, let lo):
            let at = attributeHeader(type, length: 16)
            base.storeBytes(of: hi.bigEndian, toByteOffset: at, as: UInt64.self)
            base.storeBytes(of: lo.bigEndian, toByteOffset: at + 8, as: UInt64.self)
        }
    }

    func endMessage() {
        padToFour()
        base.storeBytes(of: UInt32(count - messageStart), toByteOffset: messageStart, as: UInt32.self)
    }

    /// Adds flags to the header of the message that was ended last.
    func addFlagsToLastMessage(_ flags: UInt16) {
        let at = messageStart + 6
        let current = base.load(fromByteOffset: at, as: UInt16.self)
        base.storeBytes(of: current | flags, toByteOffset: at, as: UInt16.self)
    }
}

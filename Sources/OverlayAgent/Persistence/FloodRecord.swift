import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Overlay

/// The flood destinations the agent wrote on each network's VXLAN device, kept in
/// `flood.json` in the data directory.
///
/// The kernel holds one entry for the all-zero MAC, with one set of flags for all its
/// destinations: an operator's `bridge fdb append` there changes the flags the agent would read
/// for its own destinations too. So which destinations are the agent's is decided from this
/// record, kept across restarts, and never from the flags (Docs/NETLINK.md, "Known traps").
struct FloodRecord: Codable, Sendable, Equatable {
    static let format = 1
    var format = Self.format
    /// VNI (decimal) → destinations the agent appended and has not deleted.
    var networks: [String: [String]] = [:]

    init() {}

    init(_ owned: [VNI: Set<IPAddress>]) {
        for (vni, vteps) in owned { networks["\(vni.value)"] = vteps.sorted().map(\.description) }
    }

    /// The record by VNI; entries that do not parse are dropped (the flags decide for them).
    var owned: [VNI: Set<IPAddress>] {
        var result: [VNI: Set<IPAddress>] = [:]
        for (key, vteps) in networks {
            guard let value = UInt32(key), let vni = VNI(value) else { continue }
            result[vni] = Set(vteps.compactMap(IPAddress.init))
        }
        return result
    }

    static func path(in directory: String) -> String { directory + "/flood.json" }

    /// The record, or an empty one when there is no file yet.
    /// - Throws: `StoreError` for a file that exists but does not read or parse.
    static func load(from directory: String) throws(StoreError) -> FloodRecord {
        let path = path(in: directory)
        guard FileManager.default.fileExists(atPath: path) else { return FloodRecord() }
        do {
            let record = try JSONDecoder().decode(FloodRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            guard record.format == Self.format else { throw StoreError("\(path): unknown format \(record.format)") }
            return record
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("\(path) is not a valid flood record: \(error)")
        }
    }
}

import Foundation
public import Testing

/// Whether tests that change the kernel may run, in one place.
///
/// They need root. Outside root they are skipped with a message saying so, unless
/// `GRAPEVINE_REQUIRE_KERNEL_TESTS=1` (set by CI): then they run and fail at once, so a CI that
/// lost its root does not go green by skipping.
public enum KernelTestGate {
    public static let isRoot = geteuid() == 0
    public static let isRequired = ProcessInfo.processInfo.environment["GRAPEVINE_REQUIRE_KERNEL_TESTS"] == "1"

    /// The trait for suites of kernel tests.
    public static var trait: ConditionTrait {
        .enabled(if: isRoot || isRequired,
                 "kernel tests need root; skipped (set GRAPEVINE_REQUIRE_KERNEL_TESTS=1 to make this a failure)")
    }

    /// Called first by every kernel test: fails when the tests were required but cannot run.
    public static func check() throws {
        if !isRoot {
            Issue.record("GRAPEVINE_REQUIRE_KERNEL_TESTS=1 but not running as root: kernel tests cannot run")
            throw Unavailable()
        }
    }

    /// Thrown after the issue is recorded, to stop the test body.
    public struct Unavailable: Error {}
}

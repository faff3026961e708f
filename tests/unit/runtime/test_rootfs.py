"""What --no-pivot must detach first: the host's whole procfs and sysfs mounts."""

from boxen.runtime.rootfs import revealing_mounts

MOUNTINFO = rb"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
25 24 0:6 / /sys/kernel/security rw shared:3 - securityfs securityfs rw
26 23 0:35 / /proc/sys/fs/binfmt_misc rw shared:13 - autofs systemd-1 rw
27 22 0:21 /sys /mnt/partial rw shared:14 - proc proc rw
28 22 0:50 / /mnt/with\040space rw - proc proc rw
29 22 0:51 / /run/b/rootfs/proc rw - proc proc rw
30 22 0:52 / /run/b/rootfs2/sys rw - sysfs sysfs rw
31 22 0:53 / /run/b/rootfs rw - proc none rw
"""


def test_whole_proc_and_sysfs_mounts_outside_the_rootfs():
    assert revealing_mounts(MOUNTINFO, "/run/b/rootfs") == [
        "/proc", "/sys", "/mnt/with space", "/run/b/rootfs2/sys"]


def test_a_line_without_a_separator_is_skipped():
    assert revealing_mounts(b"garbage\n23 22 0:21 / /proc rw - proc proc rw\n", "/r") == ["/proc"]

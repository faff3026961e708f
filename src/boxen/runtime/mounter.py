"""Carry out a :class:`~boxen.runtime.rootfs.RootfsPlan` in the container's mount namespace.

``boxen.runtime.rootfs`` explains the steps; this module performs them with the ``Kernel``.
Every path inside the container is opened relative to the rootfs with ``openat2(...,
RESOLVE_IN_ROOT)``: the kernel resolves ``..`` and symlinks as if the rootfs were ``/``, so
whatever the image holds, the path cannot leave it. Mounts are then made on
``/proc/self/fd/<fd>``, the magic link to the opened object, so the object that was checked is
the one mounted on, even if a symlink is swapped in meanwhile.
"""

from __future__ import annotations

import stat

from boxen.common import posixos as os
from boxen.common.errors import InvalidArgument, KernelError, NotFound, PermissionDenied, kernel_error
from boxen.runtime.linux import constants as C
from boxen.runtime.rootfs import DEV_SYMLINKS, clean_destination, device_type_bits, revealing_mounts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxen.runtime.linux.kernel import Kernel
    from boxen.runtime.plan import ContainerPlan
    from boxen.runtime.rootfs import DeviceNode, MountOp, RootfsPlan

PAGE = 4096  # what mount(2) copies of its data argument, the terminating NUL included
_RESOLVE = C.RESOLVE_IN_ROOT | C.RESOLVE_NO_MAGICLINKS
_PATH = C.O_PATH | os.O_CLOEXEC

# statvfs f_flag bits that a bind remount inside a user namespace must keep (they are locked).
_LOCKED = ((1, C.MS_RDONLY), (2, C.MS_NOSUID), (4, C.MS_NODEV), (8, C.MS_NOEXEC), (1024, C.MS_NOATIME),
           (2048, C.MS_NODIRATIME), (4096, C.MS_RELATIME))


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def locked_flags(path: str) -> int:
    """Mount flags of the mount at ``path`` that an unprivileged remount may not clear."""
    f_flag = os.statvfs(path).f_flag
    flags = 0
    for bit, ms in _LOCKED:
        if f_flag & bit:
            flags |= ms
    return flags


def open_bind_sources(k: Kernel, plan: ContainerPlan) -> dict[int, int]:
    """Bind-mount sources as detached trees (``open_tree(OPEN_TREE_CLONE)``), by mount index.

    Called by the runtime, as the host's root, before the init enters a user namespace: its
    root there is an unprivileged host user, who may not even reach a source that lies in a
    directory only the host's root may search (mode 0700). The init then only attaches each
    tree (``move_mount``), which needs no access to the source's path; runc passes its init
    such descriptors too. A source that cannot be opened here is left to the init, whose error
    names the mount. Nothing is opened without a user namespace (the init is the host's root
    then), nor when the container joins a mount namespace, where the sources are its paths.
    An idmapped bind's tree is opened too (recursive as its ``idmap`` says), and idmapped by
    the runtime (:func:`idmap_sources`) before the init attaches it.
    """
    joined = dict(plan.joined)
    if ("user" not in plan.new_kinds and "user" not in joined) or "mount" in joined:
        return {}
    trees = {}
    for index, op in enumerate(plan.rootfs.mounts):
        if op.kind != "bind" or op.source is None:
            continue
        recursive = op.idmap[0] if op.idmap is not None else op.flags & C.MS_REC
        flags = C.OPEN_TREE_CLONE | os.O_CLOEXEC | (C.AT_RECURSIVE if recursive else 0)
        try:
            trees[index] = k.open_tree(C.AT_FDCWD, op.source, flags, display=op.source)
        except KernelError:
            continue
    return trees


def idmap_sources(k: Kernel, plan: ContainerPlan, trees: dict[int, int], idmap_fds: dict[str, int],
                  userns_fd: int | None = None) -> None:
    """Idmap the detached trees of idmapped binds that :func:`open_bind_sources` opened.

    The runtime does it, as the host's root: a tree it opened belongs to an anonymous mount
    namespace of the host's user namespace, whose mounts the init, root only of its own user
    namespace, may attach but not change. Without ``userns_fd``: the binds with mappings of
    their own (``idmap_fds``, by destination); with it (the container's user namespace, once
    its id maps are written): the binds that take the container's mapping.
    """
    for index, tree in trees.items():
        op = plan.rootfs.mounts[index]
        if op.idmap is None:
            continue
        recursive, uid_maps, _ = op.idmap
        if uid_maps is not None and userns_fd is None:
            userns = idmap_fds[op.destination]
        elif uid_maps is None and userns_fd is not None:
            userns = userns_fd
        else:
            continue
        k.mount_setattr(tree, "", C.AT_EMPTY_PATH | (C.AT_RECURSIVE if recursive else 0), C.MOUNT_ATTR_IDMAP, 0,
                        userns, display=op.destination)


def _make(parent: int, name: str, is_file: bool, display: str, wanted: str) -> None:
    """Create ``name`` (a file or a directory) in ``parent``. A refusal (a read-only rootfs, a
    user namespace's root that may not write in the host's rootfs) names what was being made."""
    try:
        if is_file:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644, dir_fd=parent))
        else:
            os.mkdir(name, 0o755, dir_fd=parent)
    except OSError as exc:
        raise kernel_error(exc.errno or 0, "create" if is_file else "mkdir", display,
                           f"making {wanted} inside the rootfs") from None


class Mounter:
    """Builds the tree of one container. ``root_fd`` is an ``O_PATH`` descriptor of the rootfs.

    ``source_fds`` are bind-mount sources opened beforehand (:func:`open_bind_sources`), by
    index in ``plan.mounts``; each is closed once attached.
    """

    def __init__(self, kernel: Kernel, plan: RootfsPlan, *, in_userns: bool,
                 cgroup_mounts: tuple[tuple[str, str], ...] = (), cgroup_version: int = 1,
                 new_cgroupns: bool = False, idmap_fds: dict[str, int] | None = None,
                 source_fds: dict[int, int] | None = None) -> None:
        self.k = kernel
        self.plan = plan
        self.in_userns = in_userns
        self.cgroup_mounts = cgroup_mounts
        self.cgroup_version = cgroup_version
        self.new_cgroupns = new_cgroupns
        self.idmap_fds = idmap_fds or {}
        self.source_fds = source_fds or {}
        self.root_fd = -1
        self.readonly_later: list[str] = []

    # --- resolving inside the rootfs ---------------------------------------------------------------

    def open_in_root(self, path: str, flags: int = _PATH) -> int:
        rel = path.lstrip("/") or "."
        return self.k.openat2(self.root_fd, rel, flags, 0, _RESOLVE, display=path)

    def make_in_root(self, path: str, target_type: str, links: int = 0) -> int:
        """Open ``path`` inside the rootfs, creating missing directories (and a final file).

        A missing component may be a dangling symlink: it is followed the way the kernel would
        inside the rootfs (``..`` stops at its root, absolute targets start from it), and the
        directories are made where it points, as runc's ``securejoin`` does.
        """
        try:
            return self.open_in_root(path)
        except NotFound:
            pass
        parts = [p for p in path.split("/") if p]
        # Usually only the last component is missing; otherwise find the first that is. Every
        # component after the first one made is missing too: it is in a new, empty directory.
        start = len(parts) - 1
        parent = self._open_dir_if_there("/" + "/".join(parts[:start]))
        if parent is None:
            start, parent = 0, self.open_in_root("/", _PATH | os.O_DIRECTORY)
            while (deeper := self._open_dir_if_there("/" + "/".join(parts[: start + 1]))) is not None:
                os.close(parent)
                start, parent = start + 1, deeper
        for i in range(start, len(parts)):
            parent_path = "/" + "/".join(parts[:i])
            if i > start:
                parent = self.open_in_root(parent_path, _PATH | os.O_DIRECTORY)
            try:
                link = None
                if i == start:  # the first missing name may be a dangling symlink
                    try:
                        link = os.readlink(parts[i], dir_fd=parent)
                    except OSError:
                        pass
                if link is not None:
                    if links >= 40:
                        raise InvalidArgument(f"{path}: too many levels of symbolic links", field="mounts")
                    base = link if link.startswith("/") else f"{parent_path}/{link}"
                    rest = "/".join(parts[i + 1:])
                    return self.make_in_root(clean_destination(f"{base}/{rest}"), target_type, links + 1)
                _make(parent, parts[i], i == len(parts) - 1 and target_type == "file",
                      "/" + "/".join(parts[: i + 1]), path)
            finally:
                os.close(parent)
        return self.open_in_root(path)

    def _open_dir_if_there(self, path: str) -> int | None:
        """A descriptor for the directory ``path`` inside the rootfs, or None if it is missing."""
        try:
            return self.open_in_root(path, _PATH | os.O_DIRECTORY)
        except NotFound:
            return None

    # --- the steps ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Steps 1 to 4 of ``boxen.runtime.rootfs``: everything before the root switch."""
        k, plan = self.k, self.plan
        k.mount(None, "/", None, plan.propagation)
        if plan.propagation & C.MS_SHARED:
            self._make_parent_private(plan.rootfs)
        k.mount(plan.rootfs, plan.rootfs, None, C.MS_BIND | C.MS_REC)
        self.root_fd = os.open(plan.rootfs, _PATH | os.O_DIRECTORY)
        for index, op in enumerate(plan.mounts):
            self.mount(op, self.source_fds.pop(index, None))
        if plan.setup_dev:
            self.populate_dev()

    def _make_parent_private(self, path: str) -> None:
        """pivot_root refuses a new root whose parent mount is shared."""
        best = "/"
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                point = os.fsdecode(line.split()[4])
                if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                    best = point
        self.k.mount(None, best, None, C.MS_PRIVATE)

    def mount(self, op: MountOp, tree: int | None = None) -> None:
        """Make one mount; ``tree`` is its source opened beforehand (a bind), closed here."""
        if op.kind == "cgroup":
            self._mount_cgroup(op)
            return
        fd = self.make_in_root(op.destination, op.target_type)
        if op.no_symlink:
            os.close(fd)
            try:
                fd = self.open_in_root(op.destination, _PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
            except InvalidArgument:
                raise InvalidArgument(f"{op.fstype} must be mounted on a directory, and "
                                      f"{op.destination} is not one (or is a symlink)", field="mounts") from None
        try:
            if op.kind == "bind":
                if tree is not None:  # opened (and idmapped, if it is to be) by the runtime
                    self.k.move_mount(tree, fd, C.MOVE_MOUNT_F_EMPTY_PATH | C.MOVE_MOUNT_T_EMPTY_PATH,
                                      display=op.destination)
                elif op.idmap is not None:
                    self._idmapped_bind(op, fd)
                else:
                    self.k.mount(op.source, fd_path(fd), None, op.flags, display=op.destination)
            else:
                self._mount_fs(op, fd)
        finally:
            os.close(fd)
            if tree is not None:
                os.close(tree)
        self._adjust(op.destination, op.remount_flags if op.kind == "bind" else 0, op.propagation,
                     op.attr_set, op.attr_clear)

    def _adjust(self, destination: str, remount_flags: int, propagation: tuple[int, ...], attr_set: int = 0,
                attr_clear: int = 0) -> None:
        """Settings that apply to the new mount itself, reached by resolving its path again.

        The descriptor used to mount names the directory *under* the new mount; a remount or a
        propagation change made through it would act on the mount below. Resolving the
        destination again walks into the new mount's root.
        """
        if not (remount_flags or propagation or attr_set or attr_clear):
            return
        fd = self.open_in_root(destination)
        try:
            target = fd_path(fd)
            if remount_flags:
                extra = locked_flags(target) if self.in_userns else 0
                self.k.mount(None, target, None, C.MS_BIND | C.MS_REMOUNT | remount_flags | extra, display=destination)
            for flag in propagation:
                self.k.mount(None, target, None, flag, display=destination)
            if attr_set or attr_clear:
                self.k.mount_setattr(C.AT_FDCWD, target, C.AT_RECURSIVE, attr_set, attr_clear, display=destination)
        finally:
            os.close(fd)

    def _idmapped_bind(self, op: MountOp, target_fd: int) -> None:
        """A bind mount whose files' owners are shifted by a user namespace's mapping (idmap)."""
        assert op.idmap is not None and op.source is not None  # mount() calls this for idmapped binds
        recursive, uid_maps, _ = op.idmap
        userns = self.idmap_fds.get(op.destination) if uid_maps is not None else None
        own = None
        if userns is None:
            if not self.in_userns:
                raise InvalidArgument("idmap without uidMappings needs the container to have a user namespace",
                                      field="mounts")
            own = userns = os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        flags = C.OPEN_TREE_CLONE | os.O_CLOEXEC | (C.AT_RECURSIVE if recursive else 0)
        tree = self.k.open_tree(C.AT_FDCWD, op.source, flags, display=op.source)
        try:
            self.k.mount_setattr(tree, "", C.AT_EMPTY_PATH | (C.AT_RECURSIVE if recursive else 0),
                                 C.MOUNT_ATTR_IDMAP, 0, userns, display=op.destination)
            self.k.move_mount(tree, target_fd, C.MOVE_MOUNT_F_EMPTY_PATH | C.MOVE_MOUNT_T_EMPTY_PATH,
                              display=op.destination)
        finally:
            os.close(tree)
            if own is not None:
                os.close(own)

    def _mount_fs(self, op: MountOp, fd: int) -> None:
        target = fd_path(fd)
        flags, data = op.flags, op.data or None
        if op.destination == "/dev" and flags & C.MS_RDONLY:
            # /dev is filled with device nodes first, and made read-only at the end.
            flags &= ~C.MS_RDONLY
            self.readonly_later.append("/dev")
        if op.copyup:
            self._tmpfs_copyup(op, target, flags, data)
            return
        if op.fstype == "overlay" and data is not None and len(data.encode()) >= PAGE:
            # mount(2) copies one page of data: a deep image's lowerdir list goes parameter by parameter
            from boxen.runtime.host import mount_overlay_by_parameters

            mount_overlay_by_parameters(target, flags, data, kernel=self.k, display=op.destination)
            return
        try:
            self.k.mount(op.source, target, op.fstype, flags, data, display=op.destination)
        except PermissionDenied:
            # Without owning the network (sysfs) or ipc (mqueue) namespace, a user namespace
            # cannot mount these; bind the host's instead, as runc does.
            host = {"sysfs": "/sys", "mqueue": "/dev/mqueue"}.get(op.fstype or "")
            if not (self.in_userns and host):
                raise
            self.k.mount(host, target, None, C.MS_BIND | C.MS_REC, display=op.destination)
            self._adjust(op.destination, flags & ~C.MS_REC, ())

    def _tmpfs_copyup(self, op: MountOp, target: str, flags: int, data: str | None) -> None:
        """``tmpcopyup``: a tmpfs that starts with a copy of what the directory held."""
        import shutil
        import tempfile

        staging = tempfile.mkdtemp(prefix="boxen-copyup-")
        try:
            self.k.mount(op.source, staging, "tmpfs", flags, data, display=op.destination)
            shutil.copytree(target, staging, symlinks=True, dirs_exist_ok=True)
            self.k.mount(staging, target, None, C.MS_MOVE, display=op.destination)
        finally:
            os.rmdir(staging)

    def _mount_cgroup(self, op: MountOp) -> None:
        fd = self.make_in_root(op.destination, "dir")
        try:
            target = fd_path(fd)
            ro = op.flags & C.MS_RDONLY
            if self.cgroup_version == 2:
                if self.new_cgroupns:
                    self.k.mount("cgroup2", target, "cgroup2", op.flags, None, display=op.destination)
                else:
                    source = self.cgroup_mounts[0][1] if self.cgroup_mounts else "/sys/fs/cgroup"
                    self.k.mount(source, target, None, C.MS_BIND | C.MS_REC, display=op.destination)
                    os.close(fd)
                    fd = -1
                    self._adjust(op.destination, op.flags & ~C.MS_REC, ())
                return
            # cgroup v1: a tmpfs holding one directory per hierarchy, each a bind mount of the
            # container's own cgroup there (so it sees its limits, not the host's tree).
            self.k.mount("tmpfs", target, "tmpfs", op.flags & ~C.MS_RDONLY, "mode=755", display=op.destination)
        finally:
            if fd >= 0:
                os.close(fd)
        # The tmpfs is new and empty, and no process of the container exists yet: its directories
        # are made and reached by name from the tmpfs's root, with no symlink to fear.
        remount = op.flags & (C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC)
        tmpfs = self.open_in_root(op.destination, _PATH | os.O_DIRECTORY)
        try:
            for name, host_path in self.cgroup_mounts:
                sub = f"{op.destination.rstrip('/')}/{name}"
                os.mkdir(name, 0o755, dir_fd=tmpfs)
                self._mount_on(tmpfs, name, host_path, C.MS_BIND | C.MS_REC, sub)
                if remount:
                    self._mount_on(tmpfs, name, None, C.MS_BIND | C.MS_REMOUNT | remount, sub)
        finally:
            os.close(tmpfs)
        if ro:
            self.readonly_later.append(op.destination)

    def _mount_on(self, directory: int, name: str, source: str | None, flags: int, display: str) -> None:
        """Mount on the directory ``name`` in ``directory``, looked up now: after a first mount
        there, the name leads into that mount, which a remount must reach."""
        fd = os.open(name, _PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
        try:
            if flags & C.MS_REMOUNT and self.in_userns:
                flags |= locked_flags(fd_path(fd))
            self.k.mount(source, fd_path(fd), None, flags, display=display)
        finally:
            os.close(fd)

    def populate_dev(self) -> None:
        """Device nodes and the standard symlinks of a fresh /dev."""
        old = os.umask(0)
        try:
            for node in self.plan.devices:
                self._device(node)
            dev = self.open_in_root("/dev", _PATH | os.O_DIRECTORY)
            try:
                for link, target in DEV_SYMLINKS:
                    name = link[len("/dev/"):]
                    if link == "/dev/ptmx":
                        try:
                            os.unlink(name, dir_fd=dev)
                        except FileNotFoundError:
                            pass
                    try:
                        os.symlink(target, name, dir_fd=dev)
                    except FileExistsError:
                        pass
            finally:
                os.close(dev)
        finally:
            os.umask(old)

    def _device(self, node: DeviceNode) -> None:
        parent_path, _, name = node.path.rpartition("/")
        parent = self.make_in_root(parent_path or "/", "dir")
        try:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    raise InvalidArgument(f"{node.path} is a directory, not a device", field="linux.devices")
                os.unlink(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            if self.in_userns:
                # mknod is not allowed in a user namespace: bind the host's node instead.
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644, dir_fd=parent))
                fd = self.open_in_root(node.path)
                try:
                    self.k.mount(node.path, fd_path(fd), None, C.MS_BIND, display=node.path)
                finally:
                    os.close(fd)
                return
            os.mknod(name, device_type_bits(node.type) | node.mode, os.makedev(node.major, node.minor), dir_fd=parent)
            os.chown(name, node.uid, node.gid, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    # --- switching root and locking down -----------------------------------------------------------

    def switch_root(self) -> None:
        k, rootfs = self.k, self.plan.rootfs
        if self.plan.no_pivot:
            self._detach_host_proc_and_sys()
            os.chdir(rootfs)
            k.mount(rootfs, "/", None, C.MS_MOVE)
            k.chroot(".")
        else:
            # pivot_root(".", ".") stacks the old root on top of the new one. Step onto the old
            # root (through a descriptor opened before), make it a slave so that detaching it
            # does not propagate to the host, and detach it: the host's tree is gone.
            old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.chdir(rootfs)
                k.pivot_root(".", ".")
                os.fchdir(old_root)
            finally:
                os.close(old_root)
            k.mount(None, ".", None, C.MS_SLAVE | C.MS_REC)
            k.umount(".", C.MNT_DETACH)
        os.chdir("/")
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def _detach_host_proc_and_sys(self) -> None:
        """Before ``--no-pivot``'s move: the host's whole procfs and sysfs mounts would stay in
        the namespace, and make a fresh procfs mountable (see ``boxen.runtime.rootfs``, step 5)."""
        k = self.k
        with open("/proc/self/mountinfo", "rb") as f:
            points = revealing_mounts(f.read(), self.plan.rootfs)
        for point in points:
            try:
                k.mount(None, point, None, C.MS_SLAVE | C.MS_REC)  # the detach must not reach the host
            except NotFound:
                continue  # under a mount detached already
            try:
                k.umount(point, C.MNT_DETACH)
            except (InvalidArgument, PermissionDenied):
                # Locked in place (a mount inherited by a user namespace): cover it instead.
                k.mount("tmpfs", point, "tmpfs", C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, None)

    def finalize(self) -> None:
        """Masked and read-only paths, read-only leftovers, read-only root, root propagation."""
        k, plan = self.k, self.plan
        for path in plan.masked_paths:
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISDIR(st.st_mode):
                k.mount("tmpfs", path, "tmpfs", C.MS_RDONLY, None)
            else:
                k.mount("/dev/null", path, None, C.MS_BIND)
        for path in plan.readonly_paths:
            if not os.path.lexists(path):
                continue
            k.mount(path, path, None, C.MS_BIND | C.MS_REC)
            self._remount_ro(path)
        for path in self.readonly_later:
            self._remount_ro(path, bind=False)
        if plan.readonly:
            self._remount_ro("/")
        if plan.root_propagation is not None:
            k.mount(None, "/", None, plan.root_propagation)

    def _remount_ro(self, path: str, bind: bool = True) -> None:
        flags = C.MS_REMOUNT | C.MS_RDONLY | locked_flags(path)
        if bind:
            flags |= C.MS_BIND
        self.k.mount(None, path, None, flags)

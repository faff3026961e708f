"""Layer 2: images. Store, ship and unpack root filesystems.

Read in this order:

* :mod:`~boxen.image.reference`: ``busybox`` means ``docker.io/library/busybox:latest``;
* :mod:`~boxen.image.content`: blobs by digest, verified before they are stored;
* :mod:`~boxen.image.registry`: the OCI distribution protocol (a sans-IO core, auth
  challenges, a strict, proxy-aware HTTP/1.1 client of its own in registry/http11.py and
  registry/transport.py, per-registry configuration and credentials);
* :mod:`~boxen.image.pull` and :mod:`~boxen.image.push`: index -> manifest -> config ->
  layers, and back;
* :mod:`~boxen.image.store`: image names pointing at manifests or indexes;
* :mod:`~boxen.image.layout` and :mod:`~boxen.image.archive`: OCI image layouts and
  ``docker save`` archives, both ways;
* :mod:`~boxen.image.gc`: remove content and snapshots that no image references;
* :mod:`~boxen.image.root`: where all of it lives (``/var/lib/boxen`` or ``$BOXEN_ROOT``);
* snapshots, layers and unpack: applying layers onto overlayfs snapshots;
* :mod:`~boxen.image.cli`: ``boxen-image``, a daemonless tool like skopeo, umoci and ctr.

Modules are imported explicitly; this package re-exports nothing, so importing one part
does not load the others.
"""

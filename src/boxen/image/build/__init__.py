"""Dockerfile builds: ``boxen-image build -t NAME [-f Dockerfile] CONTEXT``.

A build turns a Dockerfile and a **build context** (a directory whose files ``COPY`` and
``ADD`` may use) into an image: a stack of layers and a config. Each ``RUN`` runs a command in
a container (boxen-runtime) whose root file system is a snapshot of the image so far, and the
files the command changed become a new layer; each ``COPY``/``ADD`` writes files into such a
snapshot the same way; every other instruction only edits the image config.

Read in this order:

* :mod:`.dockerfile`: the syntax (directives, continuations, flags, JSON or shell form);
* :mod:`.words`: quotes, escapes and ``$VAR``/``${VAR:-default}`` in arguments;
* :mod:`.settings`: the config values instructions set (ports, healthchecks, signals);
* :mod:`.plan` and :mod:`.planner`: stages, ARG scoping and every step decided before
  anything runs (pure);
* :mod:`.context`: which context files a build sees (``.dockerignore``) and their digests;
* :mod:`.cache`: the layer cache, keyed by the parent layer and each step's inputs;
* :mod:`.snapshot`: a step's snapshot prepared, mounted, diffed into a layer, committed;
* :mod:`.copy` and :mod:`.run`: executing a ``COPY``/``ADD`` and a ``RUN`` on a snapshot;
* :mod:`.builder`: the executor that walks the plan, commits layers and writes the image;
* :mod:`.progress`: docker-like step output, JSON lines, or nothing (``--quiet``).
"""

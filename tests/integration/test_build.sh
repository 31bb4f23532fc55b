#!/usr/bin/env bash
# guise build, as the unprivileged test user: layers carry the faked metadata, Containerfile
# features (fixtures/build/), the cache, reproducibility, outputs and pushes to a loopback
# registry, and clear errors that tag nothing.
. "$(dirname "$0")/lib.sh"

BUILD_FIXTURES=$GUISE_FIXTURES/build

# img MODE STORE NAME [PATH]: look into the image NAME of the OCI layout STORE.
#   layers           "path mode uid:gid type [rdev] [cap=hex]" for every entry of every layer
#                    (tar headers as written), a "== layer N" line before each layer
#   config|manifest  the JSON document
#   file PATH        the content of PATH in the last layer that has it
img() {
  python3 - "$@" <<'PY'
import json, sys, tarfile
mode, store, name = sys.argv[1:4]
idx = json.load(open(f"{store}/index.json"))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == name]
if not m:
    sys.exit(f"no image {name} in {store}")
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man_text = open(blob(m[0]["digest"])).read()
man = json.loads(man_text)
if mode == "manifest":
    print(man_text)
elif mode == "config":
    print(open(blob(man["config"]["digest"])).read())
elif mode == "layers":
    for i, layer in enumerate(man["layers"]):
        print(f"== layer {i}")
        for e in tarfile.open(blob(layer["digest"])).getmembers():
            kind = "d" if e.isdir() else "l" if e.issym() else "c" if e.ischr() else "b" if e.isblk() else "h" if e.islnk() else "f"
            extra = f" {e.devmajor},{e.devminor}" if kind in "cb" else ""
            cap = e.pax_headers.get("SCHILY.xattr.security.capability")
            if cap is not None:
                extra += " cap=" + cap.encode("latin1").hex()
            print(f"/{e.name.rstrip('/')} {e.mode:04o} {e.uid}:{e.gid} {kind}{extra}")
elif mode == "file":
    path = sys.argv[4].lstrip("/")
    for layer in reversed(man["layers"]):
        try:
            sys.stdout.write(tarfile.open(blob(layer["digest"])).extractfile(path).read().decode())
            sys.exit(0)
        except KeyError:
            pass
    sys.exit(f"{path} is in no layer of {name}")
PY
}
store_layers() { img layers "$@"; }
image_json() { img "$3" "$1" "$2"; }
image_config() { img config "$@"; }
layer_file() { img file "$@"; }

busybox_context() {
  local tarball
  tarball=$(_fixture_tarball busybox)
  mkdir -p ctx
  cp "$tarball" ctx/
}

# fixture_context NAME: a copy of fixtures/build/NAME in ./NAME (the fixtures are read-only).
fixture_context() {
  rm -rf "./$1"
  cp -r "$BUILD_FIXTURES/$1" "./$1"
  chmod -R u+w "./$1"
}

# base_image: localhost/busybox-base:latest in ./store, the base of the fixtures.
base_image() {
  local tarball
  tarball=$(_fixture_tarball busybox)
  fixture_context base
  cp "$tarball" base/
  run_guise build -q --root store -t busybox-base base
  assert_status 0
}

# no_tag STORE NAME: nothing was tagged NAME.
no_tag() {
  [ ! -e "$1/index.json" ] || assert_not_contains "$(cat "$1/index.json")" "$2" "tag $2"
  [ -z "$(ls -d "$1"/build.* 2>/dev/null)" ] || fail "build directories left behind: $(ls -d "$1"/build.*)"
}

# ctx/: busybox and a RUN that does what only root can (owners, set-id, devices) and deletes.
faked_metadata_context() {
  busybox_context
  cat >ctx/Containerfile <<'CF'
FROM scratch
ADD busybox.tar /
RUN mkdir /data && echo hi >/data/x && chown 12:34 /data/x && chmod 4755 /data/x \
    && mknod /data/null c 1 3 && mknod /data/sda b 8 0 && rm /bin/arch && rm -r /var/log
CMD ["sh"]
CF
}

test_run_layer_has_faked_metadata() {
  faked_metadata_context
  run_guise build --root store -t t1 ctx
  assert_status 0
  assert_contains "$OUT" "STEP 3/4: RUN mkdir" "progress"
  assert_match "Successfully tagged localhost/t1:latest" "$OUT" "tag message"
  layers=$(store_layers store localhost/t1:latest)
  assert_line "$layers" "/data/x 4755 12:34 f"
  assert_line "$layers" "/data/null 0644 0:0 c 1,3"
  assert_line "$layers" "/data/sda 0644 0:0 b 8,0"
  # Deletions are whiteouts, one for a whole directory.
  run_layer=$(printf '%s\n' "$layers" | sed -n '/^== layer 1$/,$p')
  assert_match "^/bin/\.wh\.arch " "$run_layer" "whiteout of a file"
  assert_match "^/var/\.wh\.log " "$run_layer" "whiteout of a directory"
  assert_not_contains "$run_layer" "/var/log/" "nothing below a deleted directory"
  # A rootfs with nothing but busybox: the mountpoints the RUN needed (/proc, /dev, /etc/hosts,
  # ...) are made for it and are not part of its layer.
  cat >ctx/Containerfile <<'CF'
FROM localhost/t1 AS t1
FROM scratch
COPY --from=t1 /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir /made && /bin/busybox ls /proc/self/ >/made/ls"]
CF
  run_guise build --root store -t bare ctx
  assert_status 0
  layers=$(store_layers store localhost/bare:latest)
  assert_eq $'== layer 0\n/bin 0755 0:0 d\n/bin/busybox 0755 0:0 f\n== layer 1\n/made 0755 0:0 d\n/made/ls 0644 0:0 f' \
    "$layers" "layers"
  assert_contains "$(image_config store localhost/t1:latest)" '"Cmd":["sh"]' "config"
}

# The last stage's rootfs stays in the store as the image's unpacked rootfs, as `guise pull`
# leaves a pulled image: seen through guise run (with the faked-state database next to it), it
# equals a container of the image, whose layers are applied afresh (no mountpoint or other
# leftover of the RUN).  With SOURCE_DATE_EPOCH (clamped times in the layers) nothing is kept.
test_built_rootfs_kept_and_equal_to_unpack() {
  faked_metadata_context
  run_guise build -q --root store -t kept ctx
  assert_status 0
  id=${OUT#sha256:}
  [ -d "store/rootfs/$id" ] && [ -f "store/rootfs/$id.fakefs.db" ] ||
    fail "the built rootfs of $id was not kept: $(ls store/rootfs 2>&1)"
  treelist=$(helper treelist)
  # tree ARGS...: the files a `guise run ARGS /treelist -n /` sees, in $TREE.
  tree() {
    run_guise run -v "$treelist:/treelist:ro" "$@" /treelist -n /
    assert_status 0
    TREE=$(printf '%s\n' "$OUT" | grep -Ev '^/(proc|sys|dev|treelist)[/ ]' | LC_ALL=C sort)
  }
  tree --rm --root store kept
  unpacked=$TREE
  assert_contains "$unpacked" "/data/x f 4755 12:34" "faked owner in the image"
  tree --rootfs "store/rootfs/$id"
  assert_eq "$unpacked" "$TREE" "kept rootfs against the image's layers applied afresh"

  SOURCE_DATE_EPOCH=0 run_guise build -q --no-cache --root store -t sde ctx
  assert_status 0
  [ ! -e "store/rootfs/${OUT#sha256:}" ] || fail "kept a rootfs built with SOURCE_DATE_EPOCH"
}

test_users_chown_chmod() {
  base_image
  fixture_context users
  run_guise build --root store -t users users
  assert_status 0
  layers=$(store_layers store localhost/users:latest)
  assert_line "$layers" "/srv/file.txt 0640 1000:50 f"
  assert_line "$layers" "/opt/owned/a 0644 1234:1234 f"
  assert_line "$layers" "/opt/owned/sub/b 0644 1234:1234 f"
  assert_line "$layers" "/opt/owned/sub 0755 1234:1234 d"
  assert_line "$layers" "/opt/plain/sub/b 0644 0:0 f"
  # WORKDIR made for USER app (as BuildKit does), files the RUN made as app.
  assert_line "$layers" "/home/app/work 0755 1000:1000 d"
  assert_line "$layers" "/home/app/work/mine 0644 1000:1000 f"
  assert_line "$layers" "/home/app/work/private 0700 1000:1000 d"
  assert_line "$layers" "/tmp/numeric 0644 4321:4322 f"
  assert_eq "uid=1000(app) gid=1000(app) groups=50(staff)" \
    "$(layer_file store localhost/users:latest /home/app/work/id.txt)" "id of USER app"
  assert_eq "/home/app" "$(layer_file store localhost/users:latest /home/app/work/home.txt)" "HOME"
  config=$(image_config store localhost/users:latest)
  assert_contains "$config" '"User":"4321:4322"' "config user"
  assert_contains "$config" '"WorkingDir":"/home/app/work"' "config workdir"
}

test_heredocs() {
  base_image
  fixture_context heredoc
  run_guise build --root store -t heredoc --build-arg WHO=guise heredoc
  assert_status 0
  img=localhost/heredoc:latest
  assert_eq $'hello guise\nsecond line' "$(layer_file store $img /greeting)" "RUN <<EOF"
  assert_eq "script /dev/pipes/EOF" "$(layer_file store $img /script)" "#! script"
  assert_eq '$WHO stays literal' "$(layer_file store $img /raw)" "quoted heredoc"
  assert_eq "indented guise" "$(layer_file store $img /tabs)" "<<- strips tabs"
  assert_eq $'[app]\nwho=guise' "$(layer_file store $img /etc/app/config.ini)" "COPY <<config.ini"
  assert_eq "second" "$(layer_file store $img /etc/app/EOF2)" "COPY <<EOF2"
  assert_line "$(store_layers store $img)" "/etc/app/config.ini 0600 0:0 f"
  config=$(image_config store $img)
  assert_contains "$config" 'RUN <<EOF\n#!/bin/sh\necho \"script $0\" >/script\nEOF' "history"
}

test_multistage_from_and_target() {
  base_image
  fixture_context multistage
  run_guise build --root store -t multi --build-arg GREETING=bonjour multistage
  assert_status 0
  assert_not_contains "$OUT" "this stage is not needed" "the unused stage is skipped"
  assert_contains "$OUT" "[2/2] STEP 2/4: COPY --from=builder /out /out/" "progress of stage 2"
  layers=$(store_layers store localhost/multi:latest)
  assert_line "$layers" "/out/greeting 4750 7:8 f"
  assert_line "$layers" "/out/null 0644 0:0 c 1,3"
  assert_line "$layers" "/bin/busybox 0755 0:0 f"
  assert_not_contains "$layers" "/etc/passwd" "final stage has only its own files"
  assert_eq bonjour "$(layer_file store localhost/multi:latest /out/greeting)" "build arg"
  assert_contains "$(image_config store localhost/multi:latest)" \
    '"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","B=two words"]' "env"
  # --target stops at a stage; the unused one is still not built.
  run_guise build --root store -t builder-only --target builder multistage
  assert_status 0
  assert_contains "$(store_layers store localhost/builder-only:latest)" "/bin/busybox" "target image"
  run_guise build --root store --target unused multistage
  assert_ne 0 "$STATUS" "the unused stage fails when it is the target"
  assert_contains "$ERR" "Containerfile:9: RUN echo" "names the step"
}

test_cache_hits_and_no_cache() {
  base_image
  fixture_context users
  run_guise build --root store -t c1 users
  assert_status 0
  first=$(printf '%s\n' "$OUT" | tail -1)
  run_guise build --root store -t c1 users
  assert_status 0
  hits=$(printf '%s\n' "$OUT" | grep -c -- '--> Using cache ' || true)
  assert_eq 7 "$hits" "cache hits of an unchanged rebuild (RUN, COPY x3, WORKDIR, RUN, RUN)"
  assert_eq 1 "$(printf '%s\n' "$OUT" | grep -cE -- '^--> [0-9a-f]{12}$' || true)" "no step ran"
  assert_eq "$first" "$(printf '%s\n' "$OUT" | tail -1)" "image id of an unchanged rebuild"
  # A changed context file: that COPY and every step after it run again.
  echo changed >users/file.txt
  run_guise build --root store -t c1 users
  assert_status 0
  hits=$(printf '%s\n' "$OUT" | grep -c -- '--> Using cache ' || true)
  assert_eq 1 "$hits" "only the RUN before the changed COPY is a hit"
  assert_line "$(store_layers store localhost/c1:latest)" "/srv/file.txt 0640 1000:50 f"
  # --no-cache runs everything.
  run_guise build --root store --no-cache -t c1 users
  assert_status 0
  assert_not_contains "$OUT" "Using cache" "--no-cache"
  # A build argument an ARG declares changes the steps after it.
  printf 'FROM busybox-base\nRUN echo one >/one\nARG V=1\nRUN echo "$V" >/v\n' >users/Containerfile
  run_guise build --root store -t c2 users
  assert_status 0
  run_guise build --root store -t c2 --build-arg V=2 users
  assert_status 0
  assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c -- '--> Using cache ' || true)" "hits with a new arg"
  assert_eq 2 "$(layer_file store localhost/c2:latest /v)" "new arg value"
}

test_failing_run_keeps_earlier_steps_cached() {
  base_image
  mkdir ctx
  printf 'FROM busybox-base\nRUN echo step one >/one\nRUN echo "about to fail" && exit 7\n' >ctx/Containerfile
  run_guise build --root store -t failing ctx
  assert_eq 1 "$STATUS" "exit status"
  assert_contains "$ERR" "Containerfile:3: RUN echo \"about to fail\" && exit 7: the command exited with status 7"
  assert_contains "$OUT" "about to fail" "the command's output is streamed"
  no_tag store localhost/failing
  printf 'FROM busybox-base\nRUN echo step one >/one\nRUN echo fixed >/two\n' >ctx/Containerfile
  run_guise build --root store -t failing ctx
  assert_status 0
  assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c -- '--> Using cache ' || true)" "the completed step is cached"
  # Quiet: only the id on stdout; a failing command's output still reaches stderr.
  printf 'FROM busybox-base\nRUN echo quiet-output && echo to-stderr >&2 && exit 3\n' >ctx/Containerfile
  run_guise build -q --root store -t failing2 ctx
  assert_eq 1 "$STATUS" "quiet failure"
  assert_eq "" "$OUT" "nothing on stdout"
  assert_contains "$ERR" "quiet-output" "output of the failed command"
  assert_contains "$ERR" "status 3" "status"
  no_tag store localhost/failing2
}

test_source_date_epoch_reproducible() {
  export SOURCE_DATE_EPOCH=1700000000
  base_image
  fixture_context users
  run_guise build -q --root store -t r users
  assert_status 0
  first=$OUT
  # Another store: nothing cached, every step runs again (other inodes, other times).
  mv store store1
  base_image
  run_guise build -q --root store -t r users
  assert_status 0
  assert_eq "$first" "$OUT" "image id of two builds"
  assert_match '^sha256:[0-9a-f]{64}$' "$first" "-q prints only the id"
  assert_eq "$(image_json store1 localhost/r:latest manifest)" \
    "$(image_json store localhost/r:latest manifest)" "manifests"
  assert_contains "$(image_config store localhost/r:latest)" '"created":"2023-11-14T22:13:20Z"'
}

test_ignore_files() {
  base_image
  fixture_context ignore
  run_guise build --root store -t ign ignore
  assert_status 0
  layers=$(store_layers store localhost/ign:latest)
  assert_line "$layers" "/ctx/public.txt 0644 0:0 f"
  assert_line "$layers" "/ctx/sub/secret.txt 0644 0:0 f" # secret.txt matches the top level only
  assert_line "$layers" "/ctx/docs/keep/kept.md 0644 0:0 f"
  assert_line "$layers" "/ctx/nothing.txt 0644 0:0 f" # .containerignore wins over .dockerignore
  assert_no_line "$layers" "/ctx/secret.txt 0644 0:0 f"
  assert_no_line "$layers" "/ctx/build.log 0644 0:0 f"
  assert_no_line "$layers" "/ctx/docs/readme.md 0644 0:0 f"
  assert_contains "$layers" "/ctx/sub/deep.log" # *.log matches the top level only
  view=$(layer_file store localhost/ign:latest /bind-view)
  assert_contains "$view" "/mnt/public.txt" "bind view"
  assert_not_contains "$view" "/mnt/secret.txt" "bind mount of the context hides ignored files"
  # An ignored file named explicitly is not there.
  printf 'FROM busybox-base\nCOPY secret.txt /\n' >ignore/Containerfile
  run_guise build --root store -t ign2 ignore
  assert_ne 0 "$STATUS" "COPY of an ignored file"
  assert_contains "$ERR" "secret.txt"
  no_tag store localhost/ign2
}

# Symlinks in the context do not reach what the ignore file hides: followed as a source (named,
# through a symlinked directory, by a glob, bound by RUN --mount) the ignored file is not there,
# as with docker, which sends the context without it; inside a copied directory a symlink is
# copied as a symlink.
test_ignore_not_bypassed_by_symlinks() {
  base_image
  mkdir sl
  echo TOPSECRET >sl/.env
  echo public >sl/public.txt
  printf '.env\n' >sl/.dockerignore
  ln -s .env sl/alias
  ln -s . sl/linkdir
  ln -s /.env sl/abs
  local cf
  for cf in 'COPY alias /x' 'COPY abs /x' 'COPY linkdir/.env /x' 'COPY linkdir/.e* /x/' \
    'COPY ./linkdir/linkdir/alias /x' 'RUN --mount=type=bind,source=alias,target=/m cat /m' \
    'RUN --mount=type=bind,source=.env,target=/m cat /m'; do
    printf 'FROM busybox-base\n%s\n' "$cf" >sl/Containerfile
    run_guise build --root store -t leak sl
    assert_ne 0 "$STATUS" "$cf"
    assert_contains "$ERR" "not found" "$cf"
    no_tag store localhost/leak
  done
  cat >sl/Containerfile <<'CF'
FROM busybox-base
COPY linkdir /ctx/
COPY . /all/
RUN --mount=type=bind,source=linkdir,target=/mnt cat /mnt/.env >/view 2>&1 || echo none >/view
CF
  run_guise build --root store -t sl sl
  assert_status 0
  layers=$(store_layers store localhost/sl:latest)
  assert_line "$layers" "/ctx/public.txt 0644 0:0 f"
  assert_line "$layers" "/ctx/alias 0777 0:0 l"
  assert_line "$layers" "/all/linkdir 0777 0:0 l"
  assert_not_contains "$layers" "/ctx/.env"
  assert_not_contains "$layers" "/all/.env"
  assert_not_contains "$(layer_file store localhost/sl:latest /view)" TOPSECRET "bind of linkdir"
}

test_run_mounts_and_network() {
  base_image
  fixture_context mounts
  run_guise build --root store -t mounts mounts
  assert_status 0
  img=localhost/mounts:latest
  assert_eq 1 "$(layer_file store $img /cache-lines)" "first use of the cache mount"
  assert_eq x "$(layer_file store $img /tmpfs-list)" "tmpfs"
  assert_eq bound-file "$(layer_file store $img /bound)" "bind of the context"
  assert_eq ro "$(layer_file store $img /bind-mode)" "binds are read-only"
  assert_eq 5:6 "$(layer_file store $img /owner-in-stage)" "faked owners of the bound stage"
  assert_eq lo "$(layer_file store $img /netdevs)" "--network=none"
  layers=$(store_layers store $img)
  assert_line "$layers" "/copied 0644 5:6 f"
  assert_not_contains "$layers" "/scratch" "tmpfs mountpoint left in a layer"
  assert_not_contains "$layers" "/mnt/files" "bind mountpoint left in a layer"
  assert_not_contains "$layers" "/var/cache/count" "cache mount content in a layer"
  # The cache mount keeps its content for the next build.
  run_guise build --root store --no-cache -t mounts mounts
  assert_status 0
  assert_eq 2 "$(layer_file store $img /cache-lines)" "second use of the cache mount"
}

test_config_instructions_and_onbuild() {
  base_image
  fixture_context config
  run_guise build --root store -t config-base config
  assert_status 0
  config=$(image_config store localhost/config-base:latest)
  assert_contains "$config" '"Labels":{"org.example.name":"guise test","version":"1"}'
  assert_contains "$config" '"author":"Jane Doe <jane@example.org>"'
  assert_contains "$config" '"ExposedPorts":{"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{},"8002/tcp":{}}'
  assert_contains "$config" '"Volumes":{"/cache":{},"/data":{},"/logs":{}}'
  assert_contains "$config" '"StopSignal":"SIGINT"'
  assert_contains "$config" '"Healthcheck":{"Interval":30000000000,"Retries":3,"StartPeriod":60000000000,"Test":["CMD-SHELL","wget -q -O- http://localhost/ || exit 1"],"Timeout":5000000000}'
  assert_contains "$config" '"Entrypoint":["/bin/sh"]'
  assert_contains "$config" '"Cmd":["/bin/sh","-e","-c","echo hi"]' "CMD with SHELL"
  assert_contains "$config" '"OnBuild":["RUN touch /onbuild-ran","ENV FROM_ONBUILD=yes"]'
  mkdir child
  printf 'FROM config-base\nENTRYPOINT ["/bin/true"]\n' >child/Containerfile
  run_guise build --root store -t child child
  assert_status 0
  assert_contains "$OUT" "ONBUILD RUN touch /onbuild-ran"
  assert_contains "$(store_layers store localhost/child:latest)" "/onbuild-ran 0644 0:0 f"
  config=$(image_config store localhost/child:latest)
  assert_contains "$config" '"FROM_ONBUILD=yes"' "ONBUILD ENV"
  assert_not_contains "$config" "OnBuild" "triggers do not pass on"
  assert_not_contains "$config" '"Cmd"' "ENTRYPOINT resets the inherited CMD"
}

# A tiny HTTP server on loopback for ADD URL; sets HTTP_PORT.
http_up() {
  mkdir -p www
  HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 -m http.server --bind 127.0.0.1 --directory www "$HTTP_PORT" >http.log 2>&1 &
  local pid=$!
  on_exit kill "$pid"
  for _ in $(seq 50); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$HTTP_PORT" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "http server did not start: $(cat http.log)"
}

test_add_urls_and_archives() {
  base_image
  http_up
  echo "downloaded" >www/file.txt
  mkdir ctx
  # A tarball with owners and a device node: ADD extracts local archives (keeping them) but
  # not downloaded ones.
  python3 - ctx/owned.tar.gz www/remote.tar <<'PY'
import io, sys, tarfile
for path, mode in ((sys.argv[1], "w:gz"), (sys.argv[2], "w")):
    with tarfile.open(path, mode) as t:
        d = tarfile.TarInfo("pkg"); d.type = tarfile.DIRTYPE; d.mode = 0o750; d.uid = 7; d.gid = 8
        t.addfile(d)
        f = tarfile.TarInfo("pkg/tool"); f.mode = 0o4755; f.uid = 0; f.gid = 9; data = b"#!/bin/sh\n"
        f.size = len(data); t.addfile(f, io.BytesIO(data))
        c = tarfile.TarInfo("pkg/console"); c.type = tarfile.CHRTYPE; c.devmajor = 5; c.devminor = 1; c.mode = 0o600
        t.addfile(c)
PY
  sum=$(sha256sum www/file.txt | cut -d' ' -f1)
  cat >ctx/Containerfile <<CF
FROM busybox-base
ADD owned.tar.gz /opt/
ADD --checksum=sha256:$sum http://127.0.0.1:$HTTP_PORT/file.txt /dl/
ADD http://127.0.0.1:$HTTP_PORT/remote.tar /dl/
ADD --chown=3:4 --chmod=0644 http://127.0.0.1:$HTTP_PORT/file.txt /dl/renamed.txt
CF
  run_guise build --root store -t add ctx
  assert_status 0
  layers=$(store_layers store localhost/add:latest)
  assert_line "$layers" "/opt/pkg 0750 7:8 d"
  assert_line "$layers" "/opt/pkg/tool 4755 0:9 f"
  assert_line "$layers" "/opt/pkg/console 0600 0:0 c 5,1"
  assert_line "$layers" "/dl/file.txt 0600 0:0 f"
  assert_line "$layers" "/dl/remote.tar 0600 0:0 f"
  assert_line "$layers" "/dl/renamed.txt 0644 3:4 f"
  assert_eq downloaded "$(layer_file store localhost/add:latest /dl/file.txt)" "content"
  # A wrong checksum fails and tags nothing.
  sed -i "s/sha256:$sum/sha256:$(printf '%064d' 0)/" ctx/Containerfile
  run_guise build --root store -t add-bad ctx
  assert_ne 0 "$STATUS" "wrong checksum"
  assert_contains "$ERR" "--checksum"
  no_tag store localhost/add-bad
}

test_registry_base_push_and_outputs() {
  registry_up
  mkdir ctx
  echo "built" >ctx/built.txt
  cat >ctx/Containerfile <<CF
FROM $REG/busybox:latest AS base
RUN mkdir /made && chown 3:4 /made
FROM scratch
COPY --from=$REG/busybox /bin/busybox /bin/
COPY --from=base /made /made/
COPY built.txt /
CF
  run_guise build --root store --tls-verify=false -t $REG/built:1 --push --output oci:out ctx
  assert_status 0
  assert_contains "$OUT" "Pulling $REG/busybox:latest" "the base is pulled"
  # The registry has it: skopeo sees the same layers.
  mine=$(image_json store $REG/built:1 manifest | python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
  theirs=$(skopeo inspect --tls-verify=false docker://$REG/built:1 | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))')
  assert_eq "$mine" "$theirs" "pushed layers"
  # The OCI layout has it too; its layers carry the faked owner.
  [ -f out/index.json ] || fail "no OCI layout written"
  skopeo inspect oci:out:latest >/dev/null || fail "skopeo cannot read the OCI layout"
  found=""
  for blob in out/blobs/sha256/*; do
    if tar -tvzf "$blob" --numeric-owner 2>/dev/null | grep -qE '^d[rwx-]{9} 3/4 .* made/?$'; then found=1; fi
  done
  [ -n "$found" ] || fail "no layer in out/ has made/ owned by 3:4"
  [ -z "$(ls -d out.tmp-* 2>/dev/null)" ] || fail "temporary output left behind"
  # docker-archive output (the `docker save` format, layers uncompressed).
  run_guise build --root store --output docker-archive:img.tar -t arch ctx
  assert_status 0
  skopeo inspect docker-archive:img.tar:localhost/arch:latest >/dev/null ||
    fail "skopeo cannot read the docker archive as localhost/arch:latest"
  tar -xOf img.tar manifest.json >manifest.json
  layer=$(python3 -c 'import json; print(json.load(open("manifest.json"))[0]["Layers"][1])')
  tar -xOf img.tar "$layer" | tar -tv --numeric-owner | grep -qE '^d[rwx-]{9} 3/4 .* made/?$' ||
    fail "the archive's second layer does not have made/ owned by 3:4"
}

test_errors_tag_nothing() {
  base_image
  fixture_context bad
  local name
  for name in malformed unknown missing-base missing-source failing-run heredoc; do
    run_guise build --root store -f bad/$name.Containerfile -t bad-$name bad
    assert_ne 0 "$STATUS" "$name: exit status"
    case $name in
    malformed) assert_contains "$ERR" "malformed.Containerfile:2: unterminated quote: 'ENV A=\"unterminated'" ;;
    unknown) assert_contains "$ERR" "unknown.Containerfile:2: unknown instruction 'FROBNICATE': 'FROBNICATE the build'" ;;
    missing-base) assert_contains "$ERR" "missing-base.Containerfile:1: FROM localhost/no-such-image:1: image localhost/no-such-image:1 is not in the store and pulling it failed" ;;
    missing-source) assert_contains "$ERR" "missing-source.Containerfile:2: COPY missing.txt /: COPY source not found in the build context: missing.txt" ;;
    failing-run) assert_contains "$ERR" "failing-run.Containerfile:3: RUN echo \"about to fail\" && exit 7: the command exited with status 7" ;;
    heredoc) assert_contains "$ERR" "heredoc.Containerfile:2: heredoc <<EOF is not terminated" ;;
    esac
    no_tag store localhost/bad-$name
  done
  run_guise build --root store -t 'Bad:Name:x' bad
  assert_ne 0 "$STATUS" "bad tag"
  assert_contains "$ERR" "tag Bad:Name:x"
}

# The main job: an unprivileged Debian build with apt, FROM an image in the store; setuid bits,
# group owners and file capabilities end up in the layer.
test_debian_apt_build() {
  tarball_image "$(_fixture_tarball bookworm)" debian-base --root store
  mkdir ctx
  cat >ctx/Containerfile <<'CF'
FROM debian-base AS deb
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    apt-get update -q && apt-get install -y -q --no-install-recommends sudo iputils-ping cron \
    && rm -rf /var/lib/apt/lists/*
FROM scratch AS copied
COPY --from=deb /usr/bin/ping /usr/bin/sudo /usr/bin/crontab /out/
CF
  GUISE_TEST_TIMEOUT=600 run_guise build --root store --target deb -t deb ctx
  assert_status 0
  layers=$(store_layers store localhost/deb:latest)
  assert_line "$layers" "/usr/bin/sudo 4755 0:0 f"
  assert_match "/usr/bin/crontab 2755 0:[1-9][0-9]* f" "$layers" "crontab setgid crontab"
  assert_match "/usr/bin/ping 0755 0:0 f cap=0100000200200000" "$layers" "ping has cap_net_raw"
  assert_not_contains "$layers" "/var/cache/apt/archives/sudo" "the cache mount stays out of the layer"
  # COPY --from keeps what the stage's files have: setuid, group, capability.
  GUISE_TEST_TIMEOUT=300 run_guise build --root store -t copied ctx
  assert_status 0
  layers=$(store_layers store localhost/copied:latest)
  assert_line "$layers" "/out/sudo 4755 0:0 f"
  assert_match "/out/crontab 2755 0:[1-9][0-9]* f" "$layers" "crontab via COPY --from"
  assert_match "/out/ping 0755 0:0 f cap=0100000200200000" "$layers" "ping's capability via COPY --from"
}

run_tests

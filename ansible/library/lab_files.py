#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Writes many small files and directories in one module run (the lab's configuration files and launchers).

Rendering happens on the controller (lookup('template', ...)); this module only compares and writes, so a member's
whole configuration costs one module execution instead of one per file.
"""

DOCUMENTATION = r"""
module: lab_files
short_description: Create directories and write files whose content is given, only when they differ.
options:
  dirs:
    description: Directories to create (parents as root 0755). Items are path, owner, group, mode.
    type: list
    elements: dict
    default: []
  files:
    description: Files to write. Items are dest, content, owner, group, mode and an optional tag (returned when the file changed).
    type: list
    elements: dict
    default: []
"""

import grp
import json
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _ids(owner, group):
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else (pwd.getpwnam(owner).pw_gid if owner else -1)
    return uid, gid


def _fix(path, owner, group, mode):
    changed = False
    st = os.stat(path)
    uid, gid = _ids(owner, group)
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.chown(path, uid, gid)
        changed = True
    if mode is not None and (st.st_mode & 0o7777) != int(str(mode), 8):
        os.chmod(path, int(str(mode), 8))
        changed = True
    return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(dirs=dict(type="list", elements="dict", default=[]),
                           files=dict(type="list", elements="dict", default=[])),
        supports_check_mode=True)
    changed_paths, tags = [], []
    for d in module.params["dirs"]:
        path = d["path"]
        if not os.path.isdir(path):
            if not module.check_mode:
                os.makedirs(path, exist_ok=True)
            changed_paths.append(path)
        if not module.check_mode and _fix(path, d.get("owner"), d.get("group"), d.get("mode")) and path not in changed_paths:
            changed_paths.append(path)
    for f in module.params["files"]:
        dest, content = f["dest"], f.get("content", "")
        if not isinstance(content, str):  # a JSON document templated as text comes back parsed
            content = json.dumps(content, indent=2) + "\n"
        data = content.encode("utf-8")
        old = None
        if os.path.exists(dest):
            with open(dest, "rb") as fh:
                old = fh.read()
        differs = old != data
        if differs and not module.check_mode:
            folder = os.path.dirname(dest)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lab_files.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            uid, gid = _ids(f.get("owner", "root"), f.get("group"))
            os.chown(tmp, uid, gid)
            os.chmod(tmp, int(str(f.get("mode", "0644")), 8))
            os.replace(tmp, dest)
        fixed = not differs and not module.check_mode and _fix(dest, f.get("owner", "root"), f.get("group"), f.get("mode", "0644"))
        if differs or fixed:
            changed_paths.append(dest)
            if f.get("tag") and f["tag"] not in tags:
                tags.append(f["tag"])
    module.exit_json(changed=bool(changed_paths), paths=changed_paths, tags=tags)


if __name__ == "__main__":
    main()

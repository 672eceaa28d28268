// GNU extensions for spawning children that Swift's Glibc module does not
// expose: both keep this process's descriptors out of its children.
#ifndef WALAUDIT_CPROCESS_H
#define WALAUDIT_CPROCESS_H
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np: close every fd >= `from` in the child.
int walaudit_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends are never inherited.
int walaudit_pipe_cloexec(int fds[2]);

#endif

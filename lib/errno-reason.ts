// What an operator reads when a file or directory cannot be used: the reason
// in words and the code to search for, e.g. "no such file or directory (ENOENT)".

const reasons: Record<string, string> = {
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EROFS: 'read-only file system',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  ENOSPC: 'no space left on device',
  EEXIST: 'exists and is not a directory',
}

export function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EIO'
}

export function errnoReason(err: unknown): string {
  const code = errnoCode(err)
  const words = reasons[code]
  return words ? `${words} (${code})` : (err as Error)?.message ?? code
}

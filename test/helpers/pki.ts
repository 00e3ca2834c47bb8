// A throwaway PKI for the TLS tests: a CA, a server certificate for
// 127.0.0.1 and a client certificate (CN hull-test-client) it signed, plus a
// rogue CA's client certificate; made with openssl in dir.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

async function openssl(dir: string, args: string[]): Promise<void> {
  await execFileP("openssl", args, { cwd: dir, timeout: 60_000 });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate (CN hull-test-client), plus a rogue CA's client certificate. */
export async function makePki(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "rogue-ca"]) {
    await openssl(dir, [
      "req",
      "-x509",
      ...newKey,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=hull-test-${ca}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  }
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await writeFile(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  const issue = async (name: string, cn: string, ca: string, ext: string): Promise<void> => {
    await openssl(dir, ["req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      ext,
    ]);
  };
  await issue("server", "hulld-test", "ca", "server.ext");
  await issue("client", "hull-test-client", "ca", "client.ext");
  await issue("rogue-client", "hull-test-rogue", "rogue-ca", "client.ext");
}

// gRPC health and reflection, registered at start but loaded at their first
// call. grpc-health-check and @grpc/reflection each parse their .proto with
// proto-loader (protobufjs) when loaded, and reflection indexes hull's
// descriptor set: ~10 MiB of an idle hulld's resident memory for services a
// probe or grpcurl calls now and then. The method table below is the wire
// contract of grpc.health.v1 and grpc.reflection.v1/v1alpha (their .protos);
// codecs and handlers are the packages' own, taken from the service they add
// once it is needed, so what a client sees does not change.
import { createRequire } from "node:module";
import type { MethodDefinition, Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import type * as HealthModule from "grpc-health-check";
import type * as ReflectionModule from "@grpc/reflection";
import { HullError } from "../errors.js";

type AddService = Pick<Server, "addService">;
interface Registered {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}
type Handler = (call: unknown, callback: unknown) => void;

// Both packages are CommonJS: require() loads them synchronously inside a codec call, where no await is possible.
const require = createRequire(import.meta.url);

/** Service name (from its methods' paths) → what register added. */
function capture(register: (server: AddService) => void): Map<string, Registered> {
  const services = new Map<string, Registered>();
  const server: AddService = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
      const first = Object.values(definition)[0];
      if (first === undefined) throw new HullError("INTERNAL", "a lazily loaded gRPC service has no methods");
      services.set(first.path.split("/")[1] ?? "", { definition, implementation });
    },
  };
  register(server);
  return services;
}

/**
 * Adds service `name` with `methods` (name → [client streams, server
 * streams]) to server; the first call of any of them runs load, whose
 * registration supplies the real codecs and handlers.
 */
function addLazily(server: AddService, name: string, methods: Record<string, [boolean, boolean]>, load: () => Map<string, Registered>): void {
  const real = (): Registered => {
    const found = load().get(name);
    if (found === undefined) throw new HullError("INTERNAL", `loading gRPC service ${name}: the package did not register it`);
    return found;
  };
  const method = (m: string): MethodDefinition<unknown, unknown> => {
    const d = real().definition[m];
    if (d === undefined) throw new HullError("INTERNAL", `loading gRPC service ${name}: it has no method ${m}`);
    return d;
  };
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const [m, [requestStream, responseStream]] of Object.entries(methods)) {
    definition[m] = {
      path: `/${name}/${m}`,
      requestStream,
      responseStream,
      originalName: m,
      requestSerialize: (v: unknown) => method(m).requestSerialize(v),
      requestDeserialize: (b: Buffer) => method(m).requestDeserialize(b),
      responseSerialize: (v: unknown) => method(m).responseSerialize(v),
      responseDeserialize: (b: Buffer) => method(m).responseDeserialize(b),
    };
    const handler: Handler = (call, callback) => {
      // grpc-js finds a handler under the method's name or its originalName (proto-loader's camelCase: "check").
      const impl = real().implementation;
      const h = (impl[m] ?? impl[method(m).originalName ?? m]) as Handler | undefined;
      if (h === undefined) throw new HullError("INTERNAL", `loading gRPC service ${name}: no handler for ${m}`);
      h(call, callback);
    };
    implementation[m] = handler;
  }
  server.addService(definition, implementation);
}

function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

type ServingStatus = HealthModule.ServingStatus;

/** grpc.health.v1.Health: statuses kept here from the start, handed to grpc-health-check's implementation when a probe first calls. */
export class LazyHealth {
  private readonly statuses: Map<string, ServingStatus>;
  private loaded = false;
  private readonly load: () => { setStatus(service: string, status: ServingStatus): void; addToServer(server: AddService): void };

  constructor(initial: Record<string, ServingStatus>) {
    this.statuses = new Map(Object.entries(initial));
    this.load = once(() => {
      const { HealthImplementation } = require("grpc-health-check") as typeof HealthModule;
      return new HealthImplementation(Object.fromEntries(this.statuses));
    });
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    // Watchers exist only once the implementation does; tell it so they hear the change.
    if (this.loaded) this.load().setStatus(service, status);
  }

  addToServer(server: AddService): void {
    const services = once(() => {
      this.loaded = true;
      return capture((s) => this.load().addToServer(s));
    });
    addLazily(server, "grpc.health.v1.Health", { Check: [false, false], Watch: [false, true] }, services);
  }
}

/** Server reflection v1 and v1alpha over the package definition that definition() builds at the first reflection call. */
export function addLazyReflection(server: AddService, definition: () => PackageDefinition): void {
  const services = once(() => {
    const { ReflectionService } = require("@grpc/reflection") as typeof ReflectionModule;
    return capture((s) => new ReflectionService(definition()).addToServer(s));
  });
  for (const version of ["v1", "v1alpha"]) {
    addLazily(server, `grpc.reflection.${version}.ServerReflection`, { ServerReflectionInfo: [true, true] }, services);
  }
}

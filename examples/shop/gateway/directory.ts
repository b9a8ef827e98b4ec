export const SERVICES = ['product', 'order', 'member', 'search'] as const
export type ServiceName = (typeof SERVICES)[number]

/** Instance names per service (`product-1`, `product-2`, ...) and a round-robin choice among them. */
export class Directory {
  private readonly next = new Map<ServiceName, number>()

  constructor(readonly instances: ReadonlyMap<ServiceName, readonly string[]>) {}

  static of(count: number): Directory {
    return new Directory(
      new Map(SERVICES.map((s) => [s, Array.from({ length: count }, (_, i) => `${s}-${i + 1}`)])),
    )
  }

  all(): string[] {
    return [...this.instances.values()].flat()
  }

  /** The named instance if it serves `service`, else the next one in turn. */
  pick(service: ServiceName, requested?: string): string | undefined {
    const names = this.instances.get(service) ?? []
    if (requested !== undefined) return names.includes(requested) ? requested : undefined
    const i = this.next.get(service) ?? 0
    this.next.set(service, i + 1)
    return names[i % names.length]
  }
}

/** Calls one service through the transport, on any of its instances. */
export class ServiceClient {
  constructor(
    private readonly service: ServiceName,
    private readonly directory: Directory,
    private readonly transport: import('./transport.js').Transport,
  ) {}

  async call<T>(
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const instance = this.directory.pick(this.service)
    if (!instance) throw new Error(`no instance of ${this.service}`)
    const response = await this.transport.request(instance, { method, url, body })
    return response as { status: number; body: T }
  }
}

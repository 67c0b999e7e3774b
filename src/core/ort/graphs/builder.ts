/**
 * A small helper over the maintained ONNX protobuf definition (`onnx-proto`) to write graphs in
 * TypeScript: named values, nodes, initializers, and serialisation of the ModelProto.
 */
import { onnx } from 'onnx-proto';

export const T = onnx.TensorProto.DataType;
export type ElemType = onnx.TensorProto.DataType;
type Dim = number | string;
type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { graph: onnx.IGraphProto };

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly inits: onnx.ITensorProto[] = [];
  /** Shared by a graph and its subgraphs, so that every value name is unique in the model. */
  private readonly counter: { n: number };

  constructor(
    private readonly name: string,
    private readonly opset = 17,
    counter?: { n: number },
  ) {
    this.counter = counter ?? { n: 0 };
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter.n++}`;
  }

  /** A builder for a subgraph (a Loop or If body) whose fresh names never collide with this graph's. */
  sub(name: string): GraphBuilder {
    return new GraphBuilder(`${name}_${this.counter.n++}`, this.opset, this.counter);
  }

  /** dims null: the type only (subgraph inputs whose shape varies). */
  input(name: string, type: ElemType, dims: Dim[] | null): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(value: string, name: string, type: ElemType = T.FLOAT): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('out') });
    this.outputs.push({ name, type: { tensorType: { elemType: type } } });
  }

  /** Adds a node; returns its (first) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0];
  }

  opN(opType: string, inputs: string[], nOut: number, attrs: Record<string, AttrValue> = {}, domain = ''): string[] {
    const outs = Array.from({ length: nOut }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      domain,
      input: inputs,
      output: outs,
      name: `${this.name}/${this.fresh(opType)}`,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return outs;
  }

  int64(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('i64');
    this.inits.push({ name, dataType: T.INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  float(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.initFloat(this.fresh('f32'), Float32Array.from(values), dims);
  }

  double(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('f64');
    this.inits.push({ name, dataType: T.DOUBLE, dims, rawData: new Uint8Array(Float64Array.from(values).buffer) });
    return name;
  }

  /** An initializer of any element type from its little-endian bytes. */
  initRaw(hint: string, dataType: ElemType, dims: number[], bytes: Uint8Array): string {
    const name = this.fresh(hint);
    this.inits.push({ name, dataType, dims, rawData: bytes });
    return name;
  }

  /**
   * An initializer whose bytes ORT reads from a file at session creation (ONNX external data):
   * `location` is relative to the folder the session is told to resolve external data against.
   */
  initExternal(name: string, dataType: ElemType, dims: number[], location: string, offset: number, length: number): string {
    this.inits.push({
      name,
      dataType,
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    return name;
  }

  /** A named float32 initializer (data kept inside the session). */
  initFloat(name: string, data: Float32Array, dims: number[]): string {
    this.inits.push({ name, dataType: T.FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** The graph itself (a subgraph's body, or the main graph before it is wrapped in a model). */
  graph(): onnx.IGraphProto {
    return { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.inits };
  }

  build(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'trim-vscode',
      opsetImport: [
        { domain: '', version: this.opset },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: this.graph(),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elemType: ElemType, dims: Dim[] | null): onnx.IValueInfoProto {
  if (dims === null) return { name, type: { tensorType: { elemType } } };
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attr(name: string, v: AttrValue): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('graph' in v) return { name, type: A.GRAPH, g: v.graph };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.FLOATS, floats: v.floats };
}

// Lookup by name and name lists for messages, shared by the layout's tensor views
// and the safetensors file's tensors (any class with a `name` field).

export function findByName<T>(items: T[], name: string): T | null {
  for (let i = 0; i < items.length; i++) if (items[i].name == name) return items[i];
  return null;
}

export function namesOf<T>(items: T[]): string {
  const list: string[] = [];
  for (let i = 0; i < items.length; i++) list.push(items[i].name);
  return list.join(", ");
}
